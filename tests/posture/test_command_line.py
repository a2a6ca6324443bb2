"""``azhotpatch status`` without ids: the estate's posture, its exit code, CSV and JSON, and a
snapshot saved and compared; files it is given are checked before anything is read."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from azhotpatch.cli.app import app


def test_status_without_ids_shows_the_posture_and_exits_1_when_some_are_not_current(
    tmp_path: Path,
) -> None:
    snapshot = tmp_path / "posture.json"
    result = CliRunner().invoke(app, ["--emulator", "sample:40", "status", "--save", str(snapshot)])
    assert result.exit_code == 1, result.output
    assert "Posture of 40 machines" in result.output
    assert "fix: enroll it (azhotpatch enable)" in result.output  # the command line's words
    again = CliRunner().invoke(
        app, ["--emulator", "sample:40", "-o", "json", "status", "--since", str(snapshot)]
    )
    assert again.exit_code == 1, again.output
    document = json.loads(again.stdout)
    assert document["posture"]["machines"] == 40
    assert sum(document["posture"]["counts"].values()) == 40
    assert document["since"]["appeared"] == []
    assert document["since"]["disappeared"] == []


def test_status_csv_has_a_row_per_machine() -> None:
    result = CliRunner().invoke(app, ["--emulator", "sample:40", "status", "--csv"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("resource,subscription,resource_group,location,kind,verdict")
    assert len(lines) == 41


def test_a_file_that_is_not_a_snapshot_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text("{}", encoding="utf-8")
    for arguments in (["--since", str(other)], ["--builds", str(other / "missing")]):
        result = CliRunner().invoke(app, ["--emulator", "sample:40", "status", *arguments])
        assert result.exit_code == 64, result.output
        assert "Posture of" not in result.output
    bad = CliRunner().invoke(app, ["--emulator", "sample:40", "status", "--stale-after", "0"])
    assert bad.exit_code == 64
