"""Which exit code each error means, in one table, and how an error reaches the user.

The table maps error classes to exit codes and is read along the class hierarchy, so an error
class added later under one of these (a new kind of connection failure under
`TransientError`) gets its code without an edit here. It lives in the command line, not on the
error classes: exit codes are the command line's contract with scripts, while the library's
callers catch the classes themselves.

An error we raise on purpose prints as its message (what, which rule, the fix). Anything else
is a bug: it prints where to report it, and its traceback only under ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping

from azhotpatch import __version__
from azhotpatch.errors import (
    HotpatchError,
    IneligibleError,
    InvalidArgumentError,
    InvalidInputError,
    JournalBusyError,
    JournalError,
    SignInError,
    StorageError,
    TransientError,
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


def in_option_terms(error: BaseException, options: Mapping[str, str]) -> BaseException:
    """The library names arguments as Python does (``time_zone``, ``subscriptions``); on the
    command line the same error names the option that was typed (``--time-zone``,
    ``--subscription``)."""
    if type(error) is not InvalidArgumentError:
        return error
    option = options.get(error.argument) or options.get(error.argument.removesuffix("s"))
    if option is None:
        return error
    return InvalidArgumentError(option, error.problem, fix=error.fix or "")


def report(error: BaseException, *, debug: bool) -> ExitCode:
    """Print the error for a person (stderr) and return the exit code a script acts on."""
    code = exit_code(error)
    if code is ExitCode.INTERNAL:
        sys.stderr.write(
            f"internal error: {type(error).__name__}: {error}\n"
            f"This is a bug in azhotpatch {__version__}. Please report it at {REPORT_BUGS_AT} "
            "with the command you ran and its output with --debug (which adds the traceback).\n"
        )
    else:
        sys.stderr.write(f"error: {error}\n")
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return code
