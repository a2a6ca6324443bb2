"""The command group: where every invocation starts and ends.

Four things happen here and nowhere else:

* global options (``--output json``...) are accepted after the subcommand as well as before
  it, as az, kubectl and gh accept ``-o json`` anywhere;
* every error becomes its exit code (`azhotpatch.cli.errors`), so no command catches one;
* the parser's usage errors exit 64 like every other bad input (the parser's own default, 2,
  means "some machines failed" here);
* SIGINT and SIGTERM stop a command gracefully, with a message and no traceback
  (`azhotpatch.cli.signals`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from azhotpatch.cli import errors, signals
from azhotpatch.fleet.report import ExitCode

# typer re-exports click's exceptions only through some subclasses (and vendors click from
# typer 0.29 on); these are their bases, wherever they come from.
_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]  # UsageError
_PARSER_ERRORS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    typer.BadParameter.__mro__[2],  # ClickException
)


class CommandGroup(TyperGroup):
    """The root ``azhotpatch`` group."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        reading = self._read(ctx, args)
        if reading.help_for:
            self._help(ctx, reading.help_for)
        return super().parse_args(ctx, reading.args)

    def _help(self, ctx: Any, path: list[str]) -> NoReturn:
        """A command's help, without parsing the global options: their values do not change
        the help, and converting them is most of the time ``--help`` would take."""
        command: Any = self
        context = ctx
        for name in path:
            command = command.get_command(context, name)
            context = command.context_class(command, info_name=name, parent=context)
        typer.echo(command.get_help(context))
        raise typer.Exit(0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _PARSER_ERRORS:
            raise
        except Exception as error:  # every failure, ours or not, ends as an exit code
            words = errors.CommandLineWords(self._option_names(ctx))
            debug = bool(ctx.params.get("debug"))
            raise typer.Exit(errors.report(error, debug=debug, words=words)) from None

    def _option_names(self, ctx: Any) -> dict[str, str]:
        """Parameter name -> option as typed (``time_zone`` -> ``--time-zone``), for the
        global options and the command that ran."""
        commands: list[Any] = [self]
        if ctx.invoked_subcommand:
            commands.append(self.get_command(ctx, ctx.invoked_subcommand))
        return {
            param.name: max(param.opts, key=len)
            for command in commands
            if command is not None
            for param in command.get_params(ctx)
            if getattr(param, "param_type_name", "") == "option"
        }

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's standalone mode, except that usage errors exit 64, and SIGINT and SIGTERM
        stop the command gracefully (`azhotpatch.cli.signals`: 130 and 143)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        with signals.graceful() as stop:
            try:
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except _USAGE_ERROR as error:
                error.show()  # type: ignore[attr-defined]
                code = ExitCode.USAGE
            except typer.Abort:
                code = _aborted()
            if stop.signal is not None:  # the parser turns the interruption into 130 itself
                code = signals.stopped(stop)
        sys.exit(int(code) if isinstance(code, int) else 0)

    # --- global options anywhere ------------------------------------------------------------

    def _read(self, ctx: Any, args: list[str]) -> _Reading:
        """``args`` with the global options found after the subcommand moved in front of it,
        unless the subcommand has an option of the same name (``emulator --time-scale``);
        and the subcommand whose ``--help`` was asked for, if one was."""
        wanted = _option_arity(self.get_params(ctx))
        front: list[str] = []
        rest: list[str] = []
        local: dict[str, bool] = {}
        path: list[str] = []
        help_asked = False
        command: Any = self
        index = 0
        while index < len(args):
            word = args[index]
            if word == "--":
                rest += args[index:]
                break
            name, attached = _split(word, wanted | local)
            takes_value = name is not None and (wanted | local).get(name, False) and not attached
            width = 2 if takes_value else 1
            if path and name in ctx.help_option_names:
                help_asked = True
            if path and name in wanted and name not in local:
                front += args[index : index + width]
            else:
                rest += args[index : index + width]
                inner = (
                    command.get_command(ctx, word)
                    if name is None and hasattr(command, "commands")
                    else None
                )
                if inner is not None:
                    command = inner
                    path.append(word)
                    local = _option_arity(command.get_params(ctx))
            index += width
        return _Reading(front + rest, path if help_asked else [])


def _aborted() -> ExitCode:
    """Stopped by something other than a signal (an end of input at a prompt)."""
    sys.stderr.write("Aborted.\n")
    return ExitCode.INTERRUPTED


@dataclass(frozen=True)
class _Reading:
    args: list[str]
    help_for: list[str]  # the command path whose --help was asked for; empty if none


def _option_arity(params: Sequence[Any]) -> dict[str, bool]:
    """Each option's spellings, and whether it takes a value."""
    found: dict[str, bool] = {}
    for param in params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in (*param.opts, *param.secondary_opts):
            found[name] = takes_value
    return found


def _split(word: str, known: dict[str, bool]) -> tuple[str | None, bool]:
    """(the option a word names, whether its value is attached: ``--output=json``,
    ``-ojson``); (None, False) for an argument."""
    if not word.startswith("-") or word == "-":
        return None, False
    if word.startswith("--"):
        name, equals, _ = word.partition("=")
        return name, bool(equals)
    short = word[:2]
    if short in known and len(word) > 2:
        return short, True
    return word, False


def commands(group: Any) -> Iterator[tuple[str, Any]]:
    """Every leaf command with its full name (``features register``), for help and tests."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            for inner, leaf in commands(command):
                yield f"{name} {inner}", leaf
        else:
            yield name, command
