"""Record HTTP exchanges as vcrpy cassettes that hold no secrets, and replay them offline.

    from azhotpatch.testing.recording import Scrubber, recorder

    scrubber = Scrubber(endpoint=emulator.endpoint)           # or the live ARM endpoint
    with recorder("cassettes", scrubber, mode="all").use_cassette("vm_enable.yaml"):
        hotpatch.enable(vm_id)

What the scrubber guarantees, on requests and responses (URLs, headers and bodies):

* no ``Authorization`` (nor ``User-Agent``, which names the recording host's platform)
  header, and sign-in traffic (login.microsoftonline.com and the other
  authority hosts) is never recorded at all;
* every subscription id (``/subscriptions/<guid>``, ``"subscriptionId"``) and tenant id
  (``"tenantId"``, ``"tid"``) becomes the zero GUID; anything shaped like a JWT becomes
  ``REDACTED``;
* the endpoint becomes ``https://management.azure.com``, so a cassette recorded from an
  emulator on a random port, or from a sovereign cloud, replays against one fixed URL;
* optional renames map real resource group and machine names to neutral ones.

`leaks` finds anything a scrubber should have removed; tests run it over every cassette.
Requires vcrpy (``pip install azhotpatch[test]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CANONICAL_ENDPOINT", "ZERO_GUID", "Scrubber", "leaks", "recorder"]

CANONICAL_ENDPOINT = "https://management.azure.com"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_SUBSCRIPTION_PATH = re.compile(rf"(/subscriptions/){_GUID}", re.IGNORECASE)
_ID_FIELDS = re.compile(rf'("(?:subscriptionId|tenantId|tid|oid)"\s*:\s*")({_GUID})(")')
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_AUTHORITY_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.windows.net",
)
_REWRITTEN_HEADERS = ("location", "azure-asyncoperation", "operation-location")


@dataclass
class Scrubber:
    """Rewrites exchanges before vcrpy stores them."""

    endpoint: str = CANONICAL_ENDPOINT
    renames: Mapping[str, str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        value = value.replace(self.endpoint.rstrip("/"), CANONICAL_ENDPOINT)
        value = _SUBSCRIPTION_PATH.sub(rf"\g<1>{ZERO_GUID}", value)
        value = _ID_FIELDS.sub(rf"\g<1>{ZERO_GUID}\g<3>", value)
        value = _JWT.sub("REDACTED", value)
        for real, neutral in self.renames.items():
            value = re.sub(rf"(?<![\w.-]){re.escape(real)}(?![\w.-])", neutral, value, flags=re.I)
        return value

    def request(self, request: Any) -> Any:
        if any(host in request.host for host in _AUTHORITY_HOSTS):
            return None
        request.uri = self.text(request.uri)
        for name in list(request.headers):
            if name.lower() in ("authorization", "cookie", "user-agent"):
                del request.headers[name]
        if request.body:
            raw = request.body.decode() if isinstance(request.body, bytes) else request.body
            request.body = self.text(raw).encode()
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in _REWRITTEN_HEADERS:
                headers[name] = [self.text(v) for v in headers[name]]
            elif name.lower() == "set-cookie":
                del headers[name]
        body = response.get("body", {}).get("string")
        if body:
            raw = body.decode() if isinstance(body, bytes) else body
            response["body"]["string"] = self.text(raw).encode()
        return response


def recorder(directory: str | Path, scrubber: Scrubber, *, mode: str = "none") -> Any:
    """A vcrpy VCR writing to ``directory``. ``mode="none"`` replays only (the test run);
    ``"all"`` re-records. Requests match on method, path and query, never on host or port."""
    import vcr

    return vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode=mode,
        match_on=["method", "path", "query"],
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
        filter_headers=["authorization"],
    )


def leaks(text: str) -> list[str]:
    """Secrets or identifiers a scrubbed cassette must not contain."""
    found: list[str] = []
    if re.search(r"authorization:\s*\[?\s*-?\s*'?bearer", text, re.IGNORECASE):
        found.append("an Authorization header")
    found += [f"a token ({m[:12]}...)" for m in _JWT.findall(text)]
    found += [
        f"subscription id {m.group(0)}"
        for m in re.finditer(rf"/subscriptions/({_GUID})", text, re.IGNORECASE)
        if m.group(1) != ZERO_GUID
    ]
    for match in _ID_FIELDS.finditer(text):
        if match.group(2) != ZERO_GUID:
            found.append(f"{match.group(1).split(':')[0]} {match.group(2)}")
    if "access_token" in text:
        found.append("an OAuth access_token")
    return found
