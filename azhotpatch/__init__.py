"""azhotpatch: bring Windows Server machines on Azure and Azure Arc into Hotpatch, and keep
them patched, from one machine to fleets of tens of thousands.

The domain modules (`catalog`, `calendar`, `pricing`) need no Azure at all.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from azhotpatch.errors import HotpatchError

if TYPE_CHECKING:
    from azhotpatch.client import Hotpatch, PendingOperation
    from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
    from azhotpatch.models import Eligibility, Reason, Rule

__version__ = "0.1.0"

# Where each public name lives. They load when first asked for, so that importing the package
# (the command line's --help, the domain modules) costs only what is used.
_LAZY = {
    "Hotpatch": "azhotpatch.client",
    "PendingOperation": "azhotpatch.client",
    "MachineKind": "azhotpatch.ids",
    "ResourceId": "azhotpatch.ids",
    "parse_resource_id": "azhotpatch.ids",
    "Eligibility": "azhotpatch.models",
    "Reason": "azhotpatch.models",
    "Rule": "azhotpatch.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'azhotpatch' has no attribute {name!r}")
    return getattr(import_module(module), name)


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
