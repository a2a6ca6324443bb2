"""The api-versions each provider accepts, rejected with the error ARM gives for a version it
does not know (``NoRegisteredProviderFound`` for a resource provider's types,
``InvalidApiVersionParameter`` for ARM's own)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from azhotpatch.testing.arm.errors import ArmError

_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview|-beta)?$")


@dataclass(frozen=True)
class ApiVersions:
    """The versions a provider accepts: a known list, or a range of well-formed dates."""

    provider: str
    oldest: str
    newest: str
    extra: tuple[str, ...] = ()
    resource_type: str | None = None  # set for RP resource types (NoRegisteredProviderFound)

    def accepts(self, version: str) -> bool:
        if version in self.extra:
            return True
        found = _VERSION.match(version)
        if not found:
            return False
        date_part = version[:10]
        return self.oldest <= date_part <= self.newest

    def check(self, version: str, location: str | None = None) -> None:
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if self.accepts(version):
            return
        listing = f"'{self.oldest}' through '{self.newest}'" + (
            f", {', '.join(repr(v) for v in self.extra)}" if self.extra else ""
        )
        if self.resource_type:
            where = f" for location '{location}'" if location else ""
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found{where} and API version '{version}' for "
                f"type '{self.resource_type}'. The supported api-versions are {listing}.",
            )
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are {listing}.",
        )


# Ranges cover every version the pinned SDKs send and the ones public tools have used.
API_VERSIONS = {
    "Microsoft.Compute": ApiVersions(
        "Microsoft.Compute", "2015-06-15", "2026-04-01", resource_type="virtualMachines"
    ),
    "Microsoft.HybridCompute": ApiVersions(
        "Microsoft.HybridCompute", "2019-03-18", "2026-09-01", resource_type="machines"
    ),
    "Microsoft.Features": ApiVersions(
        "Microsoft.Features", "2014-08-01", "2025-03-01", extra=("2014-08-01-preview",)
    ),
    "Microsoft.Resources": ApiVersions("Microsoft.Resources", "2014-04-01", "2025-04-01"),
    "Microsoft.ResourceGraph": ApiVersions(
        "Microsoft.ResourceGraph", "2018-09-01", "2024-04-01", resource_type="resources"
    ),
    "Microsoft.AzureStackHCI": ApiVersions(
        "Microsoft.AzureStackHCI",
        "2020-03-01",
        "2025-09-01",
        resource_type="virtualMachineInstances",
    ),
    "Microsoft.Maintenance": ApiVersions(
        "Microsoft.Maintenance",
        "2018-06-01",
        "2025-06-01",
        resource_type="maintenanceConfigurations",
    ),
}
