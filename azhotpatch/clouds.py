"""Azure clouds: where Resource Manager lives, which token scope it wants, where to sign in.

Public Azure is the default. National clouds have their own endpoints and (until the end of
2026) Resource Manager's older hourly throttling limits, which the pacer then follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.limits import ThrottleLimits

__all__ = ["AZURE_CHINA", "AZURE_PUBLIC", "AZURE_US_GOVERNMENT", "CLOUDS", "Cloud", "get_cloud"]


@dataclass(frozen=True)
class Cloud:
    name: str
    resource_manager: str
    authority_host: str
    hourly_throttling: bool = False
    # Microsoft Graph, where Intune manages Windows 11 devices (learn.microsoft.com, "National
    # cloud deployments": graph.microsoft.us for US Government L4, microsoftgraph.chinacloudapi.cn
    # for the cloud 21Vianet operates)
    graph: str = "https://graph.microsoft.com"

    @property
    def credential_scope(self) -> str:
        return f"{self.resource_manager}/.default"

    @property
    def graph_scope(self) -> str:
        return f"{self.graph}/.default"

    @property
    def limits(self) -> ThrottleLimits:
        return ThrottleLimits.sovereign() if self.hourly_throttling else ThrottleLimits()


AZURE_PUBLIC = Cloud(
    "AzureCloud", "https://management.azure.com", "https://login.microsoftonline.com"
)
AZURE_US_GOVERNMENT = Cloud(
    "AzureUSGovernment",
    "https://management.usgovcloudapi.net",
    "https://login.microsoftonline.us",
    hourly_throttling=True,
    graph="https://graph.microsoft.us",
)
AZURE_CHINA = Cloud(
    "AzureChinaCloud",
    "https://management.chinacloudapi.cn",
    "https://login.chinacloudapi.cn",
    hourly_throttling=True,
    graph="https://microsoftgraph.chinacloudapi.cn",
)
CLOUDS = {c.name.lower(): c for c in (AZURE_PUBLIC, AZURE_US_GOVERNMENT, AZURE_CHINA)}
_ALIASES = {
    "public": AZURE_PUBLIC,
    "azure": AZURE_PUBLIC,
    "usgov": AZURE_US_GOVERNMENT,
    "usgovernment": AZURE_US_GOVERNMENT,
    "china": AZURE_CHINA,
}


def get_cloud(cloud: str | Cloud) -> Cloud:
    """A `Cloud` by name (``AzureCloud``, ``AzureUSGovernment``, ``AzureChinaCloud``, or the
    short aliases ``public``, ``usgov``, ``china``), case-insensitively."""
    if isinstance(cloud, Cloud):
        return cloud
    found = CLOUDS.get(str(cloud).lower()) or _ALIASES.get(str(cloud).lower())
    if found is None:
        names = ", ".join(c.name for c in CLOUDS.values())
        raise InvalidArgumentError(
            "cloud",
            f"unknown cloud {cloud!r}",
            fix=f"use one of {names} (or public/usgov/china), or pass endpoint= for another",
        )
    return found
