"""azhotpatch: bring Windows Server machines on Azure and Azure Arc into Hotpatch, and keep
them patched, from one machine to fleets of tens of thousands.

The domain modules (`catalog`, `calendar`, `pricing`) need no Azure at all.
"""

from __future__ import annotations

from azhotpatch.errors import HotpatchError
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
from azhotpatch.models import Eligibility, Reason, Rule

__version__ = "0.1.0"

__all__ = [
    "Eligibility",
    "HotpatchError",
    "MachineKind",
    "Reason",
    "ResourceId",
    "Rule",
    "__version__",
    "parse_resource_id",
]
