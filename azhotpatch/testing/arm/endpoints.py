"""Route tables as data: each service lists its ARM operations as `Endpoint` rows, and
`services.Services` binds them to the service's responses object once.

A row says everything ARM needs to know about an operation before any provider code runs:
its path template (matched case-insensitively, as ARM does), the RBAC action it is
authorised by, the ARM throttling bucket it draws from (and Compute's own, where it has one),
and whether it is a write to a machine (which the fault injector may answer with 409). Reading
one table is reading what a service serves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from azhotpatch.testing.arm.exchange import Handler, Request, Response

Service = TypeVar("Service")
# (region, resource the per-resource bucket counts): where a Compute policy is charged
ChargedTo = tuple[str, str | None]
# (policy, region, resource)
ComputeCharge = tuple[str, str, str | None]


@dataclass(frozen=True)
class ComputeThrottle(Generic[Service]):
    """Which of Compute's per-region policies an operation draws from (``LowCostGet``,
    ``VMGuestPatchOperation``...), and how to find the region and resource it is charged to;
    None means the VM is unknown, and only ARM's buckets apply."""

    policy: str
    charged_to: Callable[[Service, Request], ChargedTo | None]


@dataclass(frozen=True)
class Endpoint(Generic[Service]):
    """One row of a service's route table.

    ``action`` is the RBAC action ARM checks (``{param}`` placeholders are filled from the
    path), ``arm_kind`` the ARM throttling bucket (reads/writes/deletes; by method unless
    given), ``level`` whether it is addressed under a subscription or the tenant.
    ``subject`` says which of the things one route serves a request concerns (a run
    command's script), for a `FaultRule` whose ``operation`` names one of them.
    """

    name: str
    method: str
    template: str
    handler: Callable[[Service, Request], Response]
    provider: str
    action: str
    arm_kind: str | None = None
    level: str = "subscription"
    machine_write: bool = False
    throttle: ComputeThrottle[Service] | None = None
    subject: Callable[[Service, Request], str | None] | None = None

    def bind(self, service: Service) -> Route:
        handler, throttle, subject = self.handler, self.throttle, self.subject
        return Route(
            name=self.name,
            method=self.method,
            pattern=compile_template(self.template),
            handler=lambda request: handler(service, request),
            provider=self.provider,
            action=self.action,
            arm_kind=self.arm_kind or _ARM_KINDS.get(self.method, "writes"),
            level=self.level,
            machine_write=self.machine_write,
            compute=None if throttle is None else _compute_charge(service, throttle),
            subject=None if subject is None else (lambda request: subject(service, request)),
        )


def bind(table: Iterable[Endpoint[Service]], service: Service) -> list[Route]:
    """A service's route table, answered by ``service``."""
    return [endpoint.bind(service) for endpoint in table]


@dataclass(frozen=True)
class Route:
    """An `Endpoint` bound to the object that answers it, ready to match requests."""

    name: str
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    provider: str
    action: str
    arm_kind: str
    level: str = "subscription"  # or "tenant": where ARM addresses it
    machine_write: bool = False  # subject to 409 "operation in progress" injection
    compute: Callable[[Request], ComputeCharge | None] | None = None
    subject: Callable[[Request], str | None] | None = None  # see `Endpoint.subject`


_ARM_KINDS = {"GET": "reads", "DELETE": "deletes"}


def compile_template(template: str) -> re.Pattern[str]:
    """``/subscriptions/{sub}/...`` as a case-insensitive anchored pattern with named groups."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


def _compute_charge(
    service: Service, throttle: ComputeThrottle[Service]
) -> Callable[[Request], ComputeCharge | None]:
    def charge(request: Request) -> ComputeCharge | None:
        where = throttle.charged_to(service, request)
        if where is None:
            return None
        region, resource = where
        return throttle.policy, region, resource

    return charge
