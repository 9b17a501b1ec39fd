"""`betpipe run --help` names every job `--job` accepts, so a new scheduler job cannot go undocumented."""

from __future__ import annotations

from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.live.stages import STAGES


def test_run_help_lists_every_job() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    missing = [name for name in STAGES if name not in text]
    assert not missing, f"jobs missing from `betpipe run --help`: {missing}"
