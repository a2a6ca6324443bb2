"""Which exit code each error means, in one table, and how an error reaches the user.

The table maps error classes to exit codes and is read along the class hierarchy, so an error
class added later under one of these (a new kind of connection failure under
`TransientError`) gets its code without an edit here. It lives in the command line, not on the
error classes: exit codes are the command line's contract with scripts, while the library's
callers catch the classes themselves.

An error we raise on purpose prints as its message (what, which rule, the fix), in the
command line's words: the library keeps a fix's options as data (`azhotpatch.errors.Fix`),
and here ``retry_failed=True`` is spelled ``--retry-failed`` and the argument ``time_zone``
the option ``--time-zone``, as typed. Anything else is a bug: it prints where to report it,
and its traceback only under ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping

from azhotpatch import __version__
from azhotpatch.errors import (
    Command,
    HotpatchError,
    IneligibleError,
    InvalidInputError,
    JournalBusyError,
    JournalError,
    Option,
    SignInError,
    StorageError,
    TransientError,
    Words,
)
from azhotpatch.fleet.report import ExitCode

EXIT_CODES: dict[type[BaseException], ExitCode] = {
    # bad input or usage: nothing was changed (a journal of another run counts as input)
    InvalidInputError: ExitCode.USAGE,
    JournalError: ExitCode.USAGE,
    # another run holds the journal: nothing was sent; try again once it has ended
    JournalBusyError: ExitCode.BUSY,
    # the journal (or a report) could not be written: vanished, disk full, I/O error
    StorageError: ExitCode.STORAGE,
    # Azure could not be reached, or would not let us sign in (a role missing on a scope is
    # the machine's failure, as a fleet run reports it)
    SignInError: ExitCode.UNAVAILABLE,
    TransientError: ExitCode.UNAVAILABLE,
    # a machine that cannot take Hotpatch is skipped, as a fleet run skips it
    IneligibleError: ExitCode.SKIPPED,
    # any other refusal or failure of the operation
    HotpatchError: ExitCode.FAILED,
}
REPORT_BUGS_AT = "https://github.com/azhotpatch/azhotpatch/issues"


def exit_code(error: BaseException) -> ExitCode:
    """The code for an error: its nearest class in `EXIT_CODES`, else an internal error."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return ExitCode.INTERNAL


class CommandLineWords:
    """The command line's words for the library's arguments: the option as the command
    that ran spells it (``subscriptions`` -> ``--subscription``). A fix may ask for an
    option of another command (``run``'s ``--retry-failed``): the argument's name with
    dashes. An argument no option stands for keeps its name."""

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self.options = dict(options or {})

    def argument(self, name: str) -> str:
        return self.options.get(name) or self.options.get(name.removesuffix("s")) or name

    def command(self, command: Command) -> str:
        return "azhotpatch " + command.name.replace("_", "-")

    def option(self, option: Option) -> str:
        flag = self.options.get(option.name) or "--" + option.name.replace("_", "-")
        if option.value is None or isinstance(option.value, bool):
            return flag
        return f"{flag} {option.value}"


COMMAND_LINE: Words = CommandLineWords()


def report(error: BaseException, *, debug: bool, words: Words = COMMAND_LINE) -> ExitCode:
    """Print the error for a person (stderr), in the command line's ``words``, and return
    the exit code a script acts on."""
    code = exit_code(error)
    if code is ExitCode.INTERNAL:
        sys.stderr.write(
            f"internal error: {type(error).__name__}: {error}\n"
            f"This is a bug in azhotpatch {__version__}. Please report it at {REPORT_BUGS_AT} "
            "with the command you ran and its output with --debug (which adds the traceback).\n"
        )
    elif isinstance(error, HotpatchError):
        sys.stderr.write(f"error: {error.render(words)}\n")
    else:
        sys.stderr.write(f"error: {error}\n")
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return code
