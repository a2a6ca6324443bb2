"""Start-up benchmarks: ``nox -s startup`` (or ``python benchmarks/startup.py``).

How long a person waits for ``azhotpatch <command> --help`` (every command), and a script for
``from azhotpatch import Hotpatch``: the median of several fresh processes each, since what
matters is the first import, never a warm one. Targets: help at most 0.3 s, the import at
most 0.5 s. Prints a table and writes the figures, with the machine they ran on, to
``benchmarks/results/<UTC time>-startup.json`` (``--no-save`` to skip).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import HERE, RESULTS, machine_info

HELP_TARGET = 0.3
IMPORT_TARGET = 0.5


def median_seconds(command: list[str], runs: int) -> float:
    """The median wall time of ``runs`` fresh processes (one unmeasured run first, so the
    file system cache is as warm as it is for a person running the command twice)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def command_names() -> list[str]:
    from typer.main import get_command

    from azhotpatch.cli.app import app
    from azhotpatch.cli.group import commands

    return [name for name, _ in commands(get_command(app))]


def measure(runs: int) -> dict[str, Any]:
    python = sys.executable
    helps = {
        name: median_seconds([python, "-m", "azhotpatch", *name.split(), "--help"], runs)
        for name in ["", *command_names()]
    }
    imported = median_seconds([python, "-c", "from azhotpatch import Hotpatch"], runs)
    return {
        "runs": runs,
        "help_seconds": {name or "(none)": round(seconds, 3) for name, seconds in helps.items()},
        "help_median_seconds": round(statistics.median(helps.values()), 3),
        "help_worst_seconds": round(max(helps.values()), 3),
        "import_hotpatch_seconds": round(imported, 3),
        "targets": {"help": HELP_TARGET, "import": IMPORT_TARGET},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per measurement")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    results = {"started": dt.datetime.now(dt.timezone.utc).isoformat(), "machine": machine_info()}
    results.update(measure(args.runs))
    for name, seconds in results["help_seconds"].items():
        mark = "" if seconds <= HELP_TARGET else "  over target"
        command = f"azhotpatch {name} --help".replace(" (none)", "")
        print(f"{command:<44}{seconds:.3f} s{mark}")
    print(f"{'median of the above':<44}{results['help_median_seconds']:.3f} s")
    print(f"{'from azhotpatch import Hotpatch':<44}{results['import_hotpatch_seconds']:.3f} s")
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{stamp}-startup.json"
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"results: {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
