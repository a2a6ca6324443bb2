"""Microsoft.AzureStackHCI as far as Azure Local VMs go: each HCI Arc machine's
``virtualMachineInstances/default`` and the marketplace images VMs are built from."""
