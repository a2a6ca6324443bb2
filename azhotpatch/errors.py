"""One exception tree for everything a caller can catch.

Every error says three things: which resource (or input) it is about, which rule was broken,
and what to do about it. Azure's own errors are mapped onto this tree at the boundary
(`azhotpatch._azure`), so callers never need to import azure-core to handle failures.

The three stay apart to the edge that shows them: a fix is a `Fix`, words with the arguments
it asks for (`Option`) kept as data, because a Python caller passes ``retry_failed=True``
where a person at the command line types ``--retry-failed``. Results, the journal and the
reports carry ``problem`` and ``fix`` as fields; each edge renders them in its own `Words`
(`PYTHON` here, the command line's in `azhotpatch.cli`), and nothing parses a rendered
message back into its parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from azhotpatch.fleet.report import Report
    from azhotpatch.models import Reason

__all__ = [
    "INSTALL_AGAIN",
    "JOURNAL",
    "PYTHON",
    "REBOOT",
    "RETRY_FAILED",
    "AmbiguousOperationError",
    "AuthorizationError",
    "AzureOperationError",
    "Command",
    "ConflictError",
    "DeadlineExceededError",
    "DuplicatePolicyError",
    "EndpointUnreachableError",
    "FeatureRegistrationTimeout",
    "Fix",
    "HotpatchError",
    "IneligibleError",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidResourceIdError",
    "JournalBusyError",
    "JournalError",
    "JournalStorageError",
    "OperationFailedError",
    "Option",
    "PolicyDeniedError",
    "PrerequisiteError",
    "RequestRejectedError",
    "ResourceNotFoundError",
    "ScopeLockedError",
    "SignInError",
    "StorageError",
    "SubscriptionDisabledError",
    "ThrottledError",
    "TransientError",
    "UnsupportedImageError",
    "UnsupportedRegionError",
    "Words",
    "render",
]


# --- what to do about it, in the words of whoever reads it ------------------------------------


@dataclass(frozen=True)
class Option:
    """An argument a fix asks for, by its Python name (``retry_failed``); ``value`` is what
    to give it (True for a switch, a word for a choice; None: the caller chooses, e.g. a
    journal's path; False: the argument itself, as in "leave it out")."""

    name: str
    value: bool | str | None = True


@dataclass(frozen=True)
class Command:
    """Something to do with azhotpatch itself, by the client method's name (``enable``): the
    same step is a method call in Python and a command on the command line."""

    name: str


RETRY_FAILED = Option("retry_failed")  # a fleet run again, retrying the machines that failed
INSTALL_AGAIN = Option("install_again")  # send the install though someone else's counts
JOURNAL = Option("journal", None)  # the journal of the run to resume
REBOOT = Option("reboot", None)  # when a remediation may restart the machine


class Words(Protocol):
    """How an edge names an argument: Python's ``retry_failed=True``, the command line's
    ``--retry-failed``."""

    def option(self, option: Option) -> str: ...

    def argument(self, name: str) -> str: ...

    def command(self, command: Command) -> str: ...


class _PythonWords:
    """The library's own words: keyword arguments as a caller writes them."""

    def option(self, option: Option) -> str:
        if option.value is False:
            return option.name
        if option.value is None:
            return f"{option.name}="
        return f"{option.name}={option.value!r}"

    def argument(self, name: str) -> str:
        return name

    def command(self, command: Command) -> str:
        return f"{command.name}()"


PYTHON: Words = _PythonWords()


@dataclass(frozen=True)
class Fix:
    """What to do, as words and the `Option`s and `Command`s it names, rendered by each edge
    in its own `Words`. ``str()`` gives the Python caller's rendering."""

    parts: tuple[str | Option | Command, ...]

    @classmethod
    def of(cls, *parts: str | Option | Command) -> Fix:
        return cls(tuple(parts))

    @classmethod
    def given(cls, fix: str | Fix | None) -> Fix | None:
        """A fix as given to an error: words alone become a fix that asks for no option."""
        if fix is None or isinstance(fix, Fix):
            return fix
        return cls((fix,)) if fix else None

    @classmethod
    def joined(cls, fixes: Iterable[Fix | None]) -> Fix | None:
        """Several fixes as one, in order, separated as a sentence separates them (None:
        there was none)."""
        parts: list[str | Option | Command] = []
        for fix in fixes:
            if fix is not None and fix.parts:
                parts.extend(("; ", *fix.parts) if parts else fix.parts)
        return cls(tuple(parts)) if parts else None

    def render(self, words: Words = PYTHON) -> str:
        return "".join(_rendered(p, words) for p in self.parts)

    def __str__(self) -> str:
        return self.render(PYTHON)

    def as_data(self) -> list[Any]:
        """Plain JSON (the journal's column): words as strings, options and commands as
        objects."""
        return [_part_data(p) for p in self.parts]

    @classmethod
    def from_data(cls, data: Sequence[Any]) -> Fix:
        return cls(tuple(_part(p) for p in data))


def _rendered(part: str | Option | Command, words: Words) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Command):
        return words.command(part)
    return words.option(part)


def _part_data(part: str | Option | Command) -> Any:
    if isinstance(part, str):
        return part
    if isinstance(part, Command):
        return {"command": part.name}
    return {"option": part.name, "value": part.value}


def _part(data: Any) -> str | Option | Command:
    if isinstance(data, str):
        return data
    if "command" in data:
        return Command(str(data["command"]))
    return _option(data)


def _option(data: Mapping[str, Any]) -> Option:
    value = data.get("value")
    return Option(str(data["option"]), value if isinstance(value, (bool, str)) else None)


def render(resource: str | None, problem: str, fix: Fix | None, words: Words = PYTHON) -> str:
    """One message, as an edge shows it: ``resource: problem Fix: fix``."""
    text = f"{resource}: {problem}" if resource else problem
    if fix is not None:
        text = f"{text} Fix: {fix.render(words)}"
    return text


class HotpatchError(Exception):
    """Base of every error azhotpatch raises on purpose.

    ``problem`` is the broken rule in plain words, ``resource`` the machine, subscription or
    input it concerns, ``fix`` the action that resolves it. ``code`` is stable and meant for
    scripts (it also appears in reports and journals).
    """

    code = "HotpatchError"

    def __init__(self, problem: str, *, resource: str | None = None, fix: str | Fix | None = None):
        self.problem = problem
        self.resource = resource
        self.remedy = Fix.given(fix)
        super().__init__(self.render())

    @property
    def fix(self) -> str | None:
        """The fix in a Python caller's words (``remedy`` keeps it as data)."""
        return None if self.remedy is None else self.remedy.render(PYTHON)

    def render(self, words: Words = PYTHON) -> str:
        """The message in an edge's words (``str()``: a Python caller's)."""
        return render(self.resource_in(words), self.problem, self.remedy, words)

    def resource_in(self, words: Words) -> str | None:
        """What the error concerns, as ``words`` name it (an argument by its edge's name)."""
        del words
        return self.resource


# --- bad input: raised before any call is made -------------------------------------------------


class InvalidInputError(HotpatchError, ValueError):
    """The caller passed something that can never work; nothing was sent to Azure."""

    code = "InvalidInput"


class InvalidResourceIdError(InvalidInputError):
    """A string that is not the resource id of an Azure VM or an Arc-enabled server."""

    code = "InvalidResourceId"

    def __init__(self, given: object, problem: str, *, expected: str) -> None:
        self.given = given
        self.expected = expected
        super().__init__(
            f"{problem} (given: {given!r})",
            resource="resource id",
            fix=f"pass an id of the form {expected}",
        )


class InvalidArgumentError(InvalidInputError):
    """An argument outside its allowed values (durations, classifications, empty fleets...)."""

    code = "InvalidArgument"

    def __init__(self, argument: str, problem: str, *, fix: str | Fix) -> None:
        self.argument = argument
        super().__init__(problem, resource=f"argument {argument!r}", fix=fix)

    def resource_in(self, words: Words) -> str | None:
        return f"argument {words.argument(self.argument)!r}"


# --- the machine cannot take Hotpatch ---------------------------------------------------------


class IneligibleError(HotpatchError):
    """The machine fails one or more Hotpatch prerequisites; ``reasons`` lists every one."""

    code = "Ineligible"

    def __init__(self, resource: str, reasons: Sequence[Reason]) -> None:
        self.reasons = tuple(reasons)
        problems = "; ".join(r.message for r in self.reasons) or "not eligible"
        fixes = Fix.joined(r.fix for r in self.reasons)
        super().__init__(f"cannot take Hotpatch: {problems}.", resource=resource, fix=fixes)


class UnsupportedImageError(IneligibleError):
    """The VM was not created from a Hotpatch-capable marketplace image."""

    code = "UnsupportedImage"


class UnsupportedRegionError(IneligibleError):
    """The machine's region does not offer the Hotpatch image it needs."""

    code = "UnsupportedRegion"


class PrerequisiteError(IneligibleError):
    """A setting or state the machine must have first (patch mode, VM agent, VBS, Arc link)."""

    code = "Prerequisite"


# --- Azure said no, or could not be reached ---------------------------------------------------


class AzureOperationError(HotpatchError):
    """An Azure call failed. ``code`` is ours and stable, one per cause; ``status``,
    ``azure_code`` and ``request_id`` (ARM's ``x-ms-request-id``, what Azure support asks
    for) carry what Azure returned, where it returned anything."""

    code = "AzureOperationError"

    def __init__(
        self,
        problem: str,
        *,
        resource: str | None = None,
        fix: str | Fix | None = None,
        status: int | None = None,
        azure_code: str | None = None,
        target: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.azure_code = azure_code
        self.target = target
        self.request_id = request_id
        super().__init__(problem, resource=resource, fix=fix)


class ResourceNotFoundError(AzureOperationError):
    """The machine (or its subscription/resource group) does not exist or is not visible."""

    code = "ResourceNotFound"


class AuthorizationError(AzureOperationError):
    """The identity lacks an RBAC permission the operation needs (HTTP 403
    ``AuthorizationFailed``). Retrying cannot help until a role is granted."""

    code = "NotAuthorized"


class SignInError(AzureOperationError):
    """No valid access token: the credential could not get one, or Azure kept refusing the
    ones it got (HTTP 401)."""

    code = "SignInFailed"


class PolicyDeniedError(AzureOperationError):
    """An Azure Policy assignment denies the change (HTTP 403 ``RequestDisallowedByPolicy``)."""

    code = "PolicyDenied"


class ScopeLockedError(AzureOperationError):
    """A management lock on the machine, its resource group or subscription forbids the
    change (HTTP 409 ``ScopeLocked``)."""

    code = "ScopeLocked"


class SubscriptionDisabledError(AzureOperationError):
    """The subscription is disabled, hence read-only (HTTP 409
    ``ReadOnlyDisabledSubscription``)."""

    code = "SubscriptionDisabled"


class ThrottledError(AzureOperationError):
    """Azure kept answering 429 past the operation's deadline."""

    code = "Throttled"


class ConflictError(AzureOperationError):
    """Another operation held the machine (HTTP 409) past the retry budget."""

    code = "Conflict"


class TransientError(AzureOperationError):
    """Server errors or broken connections persisted past the retry budget."""

    code = "AzureUnavailable"


class EndpointUnreachableError(TransientError):
    """No connection to the endpoint could be made at all (refused, no route, no name, or
    no answer to connecting) within the connect budget."""

    code = "AzureUnreachable"


class OperationFailedError(AzureOperationError):
    """Azure ran the operation and it ended Failed or Canceled (or, for the
    `RequestRejectedError` subclass, refused the request outright)."""

    code = "OperationFailed"


class RequestRejectedError(OperationFailedError):
    """Azure refused the request as it stands (HTTP 400 and other 4xx): nothing ran."""

    code = "RequestRejected"


class AmbiguousOperationError(AzureOperationError):
    """A non-idempotent request may or may not have been accepted, and reading state did not
    tell which. It is never re-sent blindly; the caller decides."""

    code = "AmbiguousOperation"


# --- the library's own limits -----------------------------------------------------------------


class DeadlineExceededError(HotpatchError):
    """The operation did not finish inside the deadline the caller set. When it is still
    running in Azure, ``handle_token`` resumes waiting for it (`Hotpatch.resume`)."""

    code = "DeadlineExceeded"

    def __init__(
        self,
        problem: str,
        *,
        resource: str | None = None,
        fix: str | Fix | None = None,
        handle_token: str | None = None,
    ) -> None:
        self.handle_token = handle_token
        super().__init__(problem, resource=resource, fix=fix)


class FeatureRegistrationTimeout(DeadlineExceededError):  # noqa: N818 (public name)
    """A preview feature stayed unregistered past the wait timeout."""

    code = "FeatureRegistrationTimeout"


class JournalError(HotpatchError):
    """The run journal is unreadable or belongs to a different run."""

    code = "Journal"


class JournalBusyError(JournalError):
    """Another run holds the journal (its lock names that run's host, pid, start time and
    command). Two writers on one journal could each send the same install, so the second
    is refused before any request; it is worth trying again once the first has ended."""

    code = "JournalBusy"


# --- files we write -------------------------------------------------------------------------


class StorageError(HotpatchError):
    """A file azhotpatch writes (a run's journal, a report) could not be written: it
    vanished, the disk or the file size limit is full, or the device failed."""

    code = "Storage"


class JournalStorageError(StorageError):
    """The run's journal vanished or could not be written while the run went on. Nothing is
    sent that the journal could not record first: the run starts no more machines, lets the
    operations already in Azure finish, and ends with this error; ``report`` (when the run
    got that far) says what each machine reached."""

    code = "JournalUnwritable"

    def __init__(
        self,
        problem: str,
        *,
        resource: str | None = None,
        fix: str | Fix | None = None,
        report: Report | None = None,
    ) -> None:
        self.report = report
        super().__init__(problem, resource=resource, fix=fix)

    def with_report(self, report: Report) -> JournalStorageError:
        """The same error, carrying the run's report."""
        return JournalStorageError(
            self.problem, resource=self.resource, fix=self.remedy, report=report
        )


class DuplicatePolicyError(HotpatchError):
    """More than one Intune Windows quality update policy carries the display name a plan
    converges: which one is meant cannot be told, so none is changed."""

    code = "DuplicatePolicy"
