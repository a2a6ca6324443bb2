"""Which Windows Server images each region offers: the platform image catalog the emulator
answers ``VirtualMachineImages.list_skus`` from and checks VM creation against."""

from __future__ import annotations

from collections.abc import Iterable

HOTPATCH_SKUS_2025 = (
    "2025-datacenter-azure-edition",
    "2025-datacenter-azure-edition-smalldisk",
    "2025-datacenter-azure-edition-core",
    "2025-datacenter-azure-edition-core-smalldisk",
)
HOTPATCH_SKUS_2022 = (
    "2022-datacenter-azure-edition-core",
    "2022-datacenter-azure-edition-core-smalldisk",
    "2022-datacenter-azure-edition-hotpatch",
    "2022-datacenter-azure-edition-hotpatch-smalldisk",
)
OTHER_WINDOWS_SKUS = (
    "2022-datacenter-azure-edition",
    "2022-datacenter",
    "2022-datacenter-g2",
    "2025-datacenter",
    "2025-datacenter-g2",
    "2019-datacenter",
    "2019-datacenter-gensecond",
    "2016-datacenter",
)
DEFAULT_REGIONS = (
    "westeurope",
    "northeurope",
    "swedencentral",
    "uksouth",
    "francecentral",
    "germanywestcentral",
    "eastus",
    "eastus2",
    "centralus",
    "southcentralus",
    "westus",
    "westus2",
    "canadacentral",
    "westcentralus",
    "eastasia",
    "southeastasia",
    "australiaeast",
    "brazilsouth",
    "centralindia",
    "japaneast",
)
# Not every region offers the 2025 Azure Edition images (Microsoft Learn, Hotpatch page). Which
# ones lack them changes over time; the emulator's default picks three, configurable.
REGIONS_WITHOUT_2025 = ("brazilsouth", "centralindia", "japaneast")


def default_region_skus(
    regions: Iterable[str] = DEFAULT_REGIONS, without_2025: Iterable[str] = REGIONS_WITHOUT_2025
) -> dict[str, tuple[str, ...]]:
    lacking = {r.lower() for r in without_2025}
    table: dict[str, tuple[str, ...]] = {}
    for region in regions:
        skus: tuple[str, ...] = HOTPATCH_SKUS_2022 + OTHER_WINDOWS_SKUS
        if region.lower() not in lacking:
            skus = HOTPATCH_SKUS_2025 + skus
        table[region.lower()] = skus
    return table
