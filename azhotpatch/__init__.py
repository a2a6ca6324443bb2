"""azhotpatch: bring Windows Server machines on Azure and Azure Arc into Hotpatch, and keep
them patched, from one machine to fleets of tens of thousands.

The domain modules (`catalog`, `calendar`, `pricing`) need no Azure at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azhotpatch.errors import HotpatchError
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
from azhotpatch.models import Eligibility, Reason, Rule

if TYPE_CHECKING:
    from azhotpatch.client import Hotpatch, PendingOperation

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`Hotpatch` loads the Azure SDKs; import it only when asked for, so that the domain
    modules and the command line's help start instantly."""
    if name in ("Hotpatch", "PendingOperation"):
        from azhotpatch import client

        return getattr(client, name)
    raise AttributeError(f"module 'azhotpatch' has no attribute {name!r}")


__all__ = [
    "Eligibility",
    "Hotpatch",
    "HotpatchError",
    "MachineKind",
    "PendingOperation",
    "Reason",
    "ResourceId",
    "Rule",
    "__version__",
    "parse_resource_id",
]
