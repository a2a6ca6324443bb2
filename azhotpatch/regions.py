"""Azure region names, so that a misspelt region is refused before anything is sent.

Azure answers an unknown region only after the request (a maintenance configuration in
"Mars" fails at the PUT; an inventory filtered on it silently finds nothing), so names are
checked here first, against the regions `az account list-locations` lists in the public,
US Government and China clouds. Display names ("West Europe") are accepted and normalised
to the programmatic form ("westeurope").

A region Azure opens after this release is refused until the list learns it: the error says
so, and `register_region` admits it in the meantime.
"""

from __future__ import annotations

import difflib

__all__ = ["KNOWN_REGIONS", "normalise", "register_region", "suggestions"]

_PUBLIC = (
    "australiacentral australiacentral2 australiaeast australiasoutheast austriaeast "
    "belgiumcentral brazilsouth brazilsoutheast canadacentral canadaeast centralindia "
    "centralus centraluseuap chilecentral denmarkeast eastasia eastus eastus2 eastus2euap "
    "eastus3 francecentral francesouth germanynorth germanywestcentral indonesiacentral "
    "israelcentral italynorth japaneast japanwest jioindiacentral jioindiawest koreacentral "
    "koreasouth malaysiasouth malaysiawest mexicocentral newzealandnorth northcentralus "
    "northeurope norwayeast norwaywest polandcentral qatarcentral southafricanorth "
    "southafricawest southcentralus southeastasia southindia spaincentral swedencentral "
    "swedensouth switzerlandnorth switzerlandwest taiwannorth taiwannorthwest uaecentral "
    "uaenorth uksouth ukwest westcentralus westeurope westindia westus westus2 westus3"
)
_US_GOVERNMENT = "usdodcentral usdodeast usgovarizona usgoviowa usgovtexas usgovvirginia"
_CHINA = "chinaeast chinaeast2 chinaeast3 chinanorth chinanorth2 chinanorth3"

KNOWN_REGIONS: set[str] = set(f"{_PUBLIC} {_US_GOVERNMENT} {_CHINA}".split())


def normalise(name: str) -> str:
    """``"West Europe"`` -> ``"westeurope"``: the programmatic name Azure compares with."""
    return "".join(name.split()).lower()


def register_region(name: str) -> str:
    """Admit a region this release does not know yet (one Azure opened since); returns its
    normalised name."""
    region = normalise(name)
    KNOWN_REGIONS.add(region)
    return region


def suggestions(name: str) -> list[str]:
    """The known regions closest to a misspelt one, best first."""
    return difflib.get_close_matches(normalise(name), sorted(KNOWN_REGIONS), n=3, cutoff=0.6)
