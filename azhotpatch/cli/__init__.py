"""The ``azhotpatch`` command line: a skin over the public API, nothing more.

Every machine command works on resource ids given as arguments, or on a fleet filter
(``--subscription``, ``--resource-group``, ``--tag``...) which makes it a fleet run with a
plan, progress, a journal and a report. ``--emulator`` runs any command against an embedded
emulator with a generated fleet; ``--output json`` prints machine-readable results. Global
options go before or after the command.

Layout: `app` assembles the commands; `group` is where each invocation starts and ends
(global options anywhere, errors to exit codes, usage errors to 64); `errors` holds the one
table of exit codes; `settings` the global options; `options` the options commands share
(ids, the fleet filter, journal, concurrency); `connect` the client; `output` and `views`
what results look like; `machines`, `runs`, `features`, `offline` and `demo` the commands.
"""

from __future__ import annotations

from azhotpatch.cli.app import app, main

__all__ = ["app", "main"]
