"""Azure's failures, classified for retrying and mapped onto `azhotpatch.errors`.

This is the boundary: nothing above `_azure` sees an azure-core exception.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
)

from azhotpatch.errors import (
    RETRY_FAILED,
    AuthorizationError,
    AzureOperationError,
    ConflictError,
    Fix,
    HotpatchError,
    OperationFailedError,
    PolicyDeniedError,
    RequestRejectedError,
    ResourceNotFoundError,
    ScopeLockedError,
    SignInError,
    SubscriptionDisabledError,
    ThrottledError,
    TransientError,
)

_RETRYABLE_CONFLICTS = {
    "conflict",
    "anotheroperationinprogress",
    "operationpreempted",
    "retryableerror",
    "retryableerrorduetoanotheroperation",
}
# Compute answers 409 OperationNotAllowed both for a VM busy with another operation (retry
# later) and for one deallocated or being deleted (retrying cannot help): the message tells.
_BUSY = re.compile(r"in progress|another operation", re.IGNORECASE)
_ACTION = re.compile(r"perform action '([^']+)'")
_LOCK = re.compile(
    r"(/subscriptions/[^'\s]+/providers/Microsoft\.Authorization/locks/[^'\s]+)", re.IGNORECASE
)
_POLICY = re.compile(r'"policyAssignment"\s*:\s*\{\s*"name"\s*:\s*"([^"]+)"')
# ARM refused the token as expired: the request was not processed, and the retry is sent
# with a token the credential refreshes (azure-core asks for a new one near expiry).
_EXPIRED_TOKEN = "expiredauthenticationtoken"  # noqa: S105 (an error code, not a secret)


class Failure(enum.Enum):
    """Why a call failed, as far as retrying is concerned."""

    THROTTLED = "throttled"  # 429: rejected before processing; retry after Retry-After
    CONFLICT = "conflict"  # 409 another operation in progress: not accepted; retry later
    NOT_SENT = "not-sent"  # connection failed before the request left: always safe to retry
    REAUTHENTICATE = "reauthenticate"  # 401 expired token: not processed; retry at once
    TRANSIENT = "transient"  # 5xx, reset, timeout after sending: safe only if idempotent
    FATAL = "fatal"  # 4xx and everything else: retrying cannot help


def classify(error: BaseException) -> Failure:
    if isinstance(error, ServiceRequestError):
        return Failure.NOT_SENT if _never_left(error) else Failure.TRANSIENT
    if isinstance(error, ServiceResponseError):
        return Failure.TRANSIENT
    if isinstance(error, HttpResponseError):  # ClientAuthenticationError (401) included
        status = error.status_code or 0
        code = azure_code(error).lower()
        if status == 401 and code == _EXPIRED_TOKEN:
            return Failure.REAUTHENTICATE
        if status == 429:
            return Failure.THROTTLED
        if status == 409 and (code in _RETRYABLE_CONFLICTS or _busy(code, error)):
            return Failure.CONFLICT
        if status in (408, 500, 502, 503, 504):
            return Failure.TRANSIENT
    return Failure.FATAL


def _busy(code: str, error: HttpResponseError) -> bool:
    return code == "operationnotallowed" and bool(_BUSY.search(_message(error)))


def _never_left(error: ServiceRequestError) -> bool:
    """azure-core's aiohttp transport reports *any* aiohttp client error as a request error,
    including a server that dropped the connection after reading the request. Only a failure
    to connect at all proves the request was never sent."""
    if isinstance(error, ServiceRequestTimeoutError):  # no connection within the timeout
        return True
    cause: BaseException | None = getattr(error, "inner_exception", None) or error.__cause__
    while cause is not None:
        if isinstance(
            cause,
            (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectionRefusedError),
        ):
            return True
        if isinstance(cause, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            return False
        cause = cause.__cause__ or cause.__context__
    return False


def azure_code(error: HttpResponseError) -> str:
    odata = getattr(error, "error", None)
    return str(getattr(odata, "code", "") or "")


def response_headers(error: BaseException) -> Mapping[str, str]:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else {}


AZURE = "Azure"  # the service a message names: Resource Manager's callers read "Azure"


def to_hotpatch_error(
    error: BaseException, resource: str, *, doing: str, service: str = AZURE
) -> HotpatchError:
    """One exception from our tree for a failed call; the message says what we were doing,
    what ``service`` (Azure, or Microsoft Graph) said, and what to try."""
    if isinstance(error, HotpatchError):
        return error
    if isinstance(error, ClientAuthenticationError) and error.status_code is None:
        return SignInError(
            f"could not get a token while {doing}: {_first_line(error)}",
            resource=resource,
            fix="sign in (az login) or configure the credential (AZURE_CLIENT_ID, ...), and "
            "check the cloud/authority matches the tenant",
        )
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        endpoint = "Resource Manager" if service == AZURE else service
        return TransientError(
            f"the connection to {service} failed while {doing}: {_first_line(error)}",
            resource=resource,
            fix=f"check network access to the {endpoint} endpoint and retry",
        )
    if not isinstance(error, HttpResponseError):
        return AzureOperationError(f"{doing} failed: {error!r}", resource=resource)
    return _from_response(error, resource, doing, service)


def _from_response(
    error: HttpResponseError, resource: str, doing: str, service: str
) -> HotpatchError:
    status = error.status_code
    code = azure_code(error)
    odata = getattr(error, "error", None)
    message = _message(error)
    target = getattr(odata, "target", None)
    if status is not None and status < 400:
        said = f"the operation ended Failed ({code or 'no code'}): {message}"
    else:
        said = f"{service} answered {status} {code}: {message}"
    error_type, problem, fix = _explain(status, code, message, target, doing, service)
    return error_type(
        f"{problem}. {said}",
        resource=resource,
        fix=fix,
        status=status,
        azure_code=code or None,
        target=target,
        request_id=response_headers(error).get("x-ms-request-id"),
    )


Explanation = tuple[type[AzureOperationError], str, str | Fix]


def _explain(
    status: int | None, code: str, message: str, target: str | None, doing: str, service: str
) -> Explanation:
    """Which of our errors an answer is, the problem in our words, and the fix."""
    if status is not None and status < 400:
        return OperationFailedError, f"{doing} failed in Azure", _fix_for(code, target)
    if status == 404:
        return (
            ResourceNotFoundError,
            f"not found while {doing}",
            "check the resource id (subscription, resource group, name) and that the "
            "credential can see that subscription",
        )
    if status == 401:
        return (
            SignInError,
            f"{service} refused the access token while {doing}",
            "sign in again (az login) or check the credential's tenant and cloud",
        )
    if status == 403:
        return _forbidden(code, message, doing)
    if status == 409:
        return _conflict(code, message, doing)
    if status == 429:
        return (
            ThrottledError,
            f"still throttled after retrying while {doing}",
            "lower the concurrency, or raise the deadline so the pacer can wait it out",
        )
    if status is not None and status >= 500:
        health = (
            "Azure status for the region"
            if service == AZURE
            else "the Microsoft 365 service health (Intune)"
        )
        return (
            TransientError,
            f"{service} kept failing while {doing}",
            Fix.of(
                "retry later (a rerun with the same journal and ",
                RETRY_FAILED,
                f" picks up here); if it persists, check {health}",
            ),
        )
    return RequestRejectedError, f"{doing} was rejected", _fix_for(code, target)


def _forbidden(code: str, message: str, doing: str) -> Explanation:
    if code.lower() == "requestdisallowedbypolicy":
        found = _POLICY.search(message)
        assignment = f"the policy assignment {found.group(1)!r}" if found else "a policy"
        return (
            PolicyDeniedError,
            f"an Azure Policy denied the change while {doing}",
            f"ask for an exemption from {assignment} for this machine, or have the "
            "assignment allow Hotpatch's settings; retrying cannot help until then",
        )
    action = _ACTION.search(message)
    needed = f"the RBAC action {action.group(1)!r}" if action else "the needed RBAC action"
    return (
        AuthorizationError,
        f"not allowed while {doing}",
        f"grant the identity {needed} on this scope (see the security guide for the "
        "least-privilege role); retrying cannot help until then",
    )


def _conflict(code: str, message: str, doing: str) -> Explanation:
    lowered = code.lower()
    if lowered == "scopelocked":
        found = _LOCK.search(message)
        lock = f"the lock {found.group(1)}" if found else "the management lock"
        return (
            ScopeLockedError,
            f"a read-only lock forbids changes while {doing}",
            Fix.of(
                f"remove {lock} for the change window (or run where no lock applies), then "
                "rerun with the same journal and ",
                RETRY_FAILED,
            ),
        )
    if lowered == "readonlydisabledsubscription":
        return (
            SubscriptionDisabledError,
            f"the subscription is disabled (read-only) while {doing}",
            Fix.of(
                "re-enable the subscription (its billing or owner), then rerun with the same "
                "journal and ",
                RETRY_FAILED,
            ),
        )
    if lowered in _RETRYABLE_CONFLICTS or _BUSY.search(message):
        return (
            ConflictError,
            f"another operation held the machine while {doing}",
            "wait for the running operation to finish (see `status`) and try again",
        )
    return RequestRejectedError, f"{doing} was refused", _fix_for(code, None)


def _fix_for(code: str, target: str | None) -> str:
    if target:
        return f"correct {target!r} as the message says"
    if code == "OperationNotAllowed":
        return "start the machine or wait until it is running, then retry"
    return "correct the request as Azure's message says"


def _message(error: HttpResponseError) -> str:
    odata = getattr(error, "error", None)
    return str(getattr(odata, "message", "") or _first_line(error))


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "message", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
