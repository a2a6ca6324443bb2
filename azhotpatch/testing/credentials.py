"""Token credentials the emulator accepts, for the SDKs' sync and ``.aio`` clients.

A token names its principal and when it expires, in the token itself: the emulator's fronts
read the principal from it (throttling, RBAC and aimed faults are per principal) and ARM
refuses it once expired, as Azure does, so no state is shared between credential and server.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

from azhotpatch.testing.arm.auth import TOKEN_PREFIX

__all__ = ["AsyncEmulatorCredential", "EmulatorCredential"]

_TOKEN_LIFETIME = 3600.0  # wall seconds, unless the emulator sets a shorter one


class EmulatorCredential:
    """A token credential the emulator accepts. ``principal`` names the caller (ARM's
    throttling and RBAC are per principal), so several credentials act as several identities.
    Its tokens expire after ``lifetime`` wall seconds, and the emulator refuses them after
    that as ARM does (401 ``ExpiredAuthenticationToken``); `Emulator.credential` sets it from
    the emulator's ``token_lifetime``."""

    def __init__(self, principal: str = "emulator-user", *, lifetime: float | None = None) -> None:
        self.principal = principal
        self.lifetime = _TOKEN_LIFETIME if lifetime is None else lifetime

    def _info(self) -> AccessTokenInfo:
        expires = time.time() + self.lifetime
        token = f"{TOKEN_PREFIX}{int(expires * 1000)}.{uuid.uuid4().hex}.{self.principal}"
        return AccessTokenInfo(token, int(expires))

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        info = self._info()
        return AccessToken(info.token, info.expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return self._info()


class AsyncEmulatorCredential(EmulatorCredential):
    """The same, for the SDKs' ``.aio`` clients."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        info = self._info()
        return AccessToken(info.token, info.expires_on)

    async def get_token_info(  # type: ignore[override]
        self, *scopes: str, options: Any = None
    ) -> AccessTokenInfo:
        return self._info()

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncEmulatorCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
