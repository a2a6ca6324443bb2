"""Azure Resource Manager's conventions, shared by every emulated service: requests and
responses, errors, route tables, api-versions, paging, and the front door every request goes
through (authentication, RBAC and the estate's conditions, throttling, injected faults)."""
