"""Who is calling: the principal a bearer token names, or the 401 ARM answers instead.

ARM throttles and authorises per principal, so the emulator needs one for every request. Its
own tokens (`EmulatorCredential`) carry the principal and an expiry in clear; any other JWT
is read for its ``oid``/``appid``/``sub`` claim without checking a signature, which is all an
emulator on loopback needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from azhotpatch.testing.arm.errors import ArmError

TOKEN_PREFIX = "azhotpatch-emulator."  # noqa: S105 (a marker, not a secret)


def principal_of(headers: Mapping[str, str]) -> str:
    """Who is calling, from the bearer token; ARM answers 401 without one."""
    value = headers.get("Authorization") or headers.get("authorization")
    if not value:
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers={
                "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                'common", error="invalid_token", error_description="The authentication failed '
                "because of missing 'Authorization' header.\""
            },
        )
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid: the 'Authorization' header must be 'Bearer <token>'.",
        )
    if token.startswith(TOKEN_PREFIX):
        return _emulator_principal(token[len(TOKEN_PREFIX) :])
    claims = _jwt_claims(token)
    for claim in ("oid", "appid", "sub"):
        if isinstance(claims.get(claim), str):
            return str(claims[claim])
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _emulator_principal(token: str) -> str:
    """The principal an emulator token names (``<expiry ms>.<nonce>.<principal>``), after
    refusing it as ARM refuses an expired token."""
    expiry, _, rest = token.partition(".")
    principal = rest.partition(".")[2]
    if expiry.isdigit() and int(expiry) < time.time() * 1000:
        stamp = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(int(expiry) / 1000))
        raise ArmError(
            401,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{stamp}' is earlier than current UTC time "
            f"'{time.strftime('%m/%d/%Y %H:%M:%S', time.gmtime())}'.",
            headers={
                "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                'common", error="invalid_token", error_description="The access token has '
                'expired."'
            },
        )
    return principal or "anonymous"


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
