"""Credentials for the async SDK clients, whatever the caller handed us."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from azure.core.credentials import AccessToken

from azhotpatch.clouds import Cloud


class _SyncCredentialAdapter:
    """Runs a synchronous TokenCredential off the event loop (token calls can block on I/O)."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token: AccessToken = await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)
        return token

    async def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if callable(close):
            close()

    async def __aenter__(self) -> _SyncCredentialAdapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def async_credential(credential: Any, cloud: Cloud) -> tuple[Any, bool]:
    """(an async credential, whether we own it and must close it).

    ``None`` means DefaultAzureCredential for the cloud's authority: environment, workload
    identity, managed identity, Azure CLI, ... as azure-identity documents.
    """
    if credential is None:
        from azure.identity.aio import DefaultAzureCredential

        return DefaultAzureCredential(authority=cloud.authority_host), True
    if inspect.iscoroutinefunction(getattr(credential, "get_token", None)):
        return credential, False
    if callable(getattr(credential, "get_token", None)):
        return _SyncCredentialAdapter(credential), False
    from azhotpatch.errors import InvalidArgumentError

    raise InvalidArgumentError(
        "credential",
        f"{type(credential).__name__} has no get_token method",
        fix="pass an azure-identity credential (e.g. DefaultAzureCredential()) or None",
    )
