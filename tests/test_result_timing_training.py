"""Issue 14.1 at `train --as-of`: training "on results known at T" bounded rows by kickoff only, so a date-only game
on T's own date (placeholder kickoff 15:00 UK, really an evening game) was trained on at T = that Friday 17:00 UK.
The training rows must follow the one rule of ``betpipe.sports.ResultTiming`` (``result_known_at``)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.test_result_timing_backtest import write_seasons
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.db import make_engine, upgrade
from betpipe.ingest.football_data import ingest_football_data
from betpipe.registry import list_versions


def _store(root: Path) -> tuple[dict[str, str], datetime]:
    friday = write_seasons(root / "csv")
    url = f"sqlite:///{root / 'store.sqlite'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        ingest_football_data(engine, [root / "csv"])
    finally:
        engine.dispose()
    # 19:00 UK: after the placeholder kickoff + the match duration, before the day (and the real evening game) ends.
    decided = datetime.combine(friday, time(19, 0), ZoneInfo("Europe/London")).astimezone(UTC)
    return {"BETPIPE_DATA_DIR": str(root / "data"), "BETPIPE_DATABASE_URL": url}, decided


def _trained_to(env: dict[str, str], as_of: datetime) -> datetime:
    result = CliRunner().invoke(
        app, ["train", "--model", "elo_logit", "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%S")], env=env
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(env["BETPIPE_DATABASE_URL"])
    try:
        (version,) = list_versions(engine)
    finally:
        engine.dispose()
    return version.lineage.end


def test_train_as_of_a_friday_evening_leaves_out_that_fridays_date_only_game(tmp_path: Path) -> None:
    """The Friday game's result is known only after that day ends: its kickoff must be after the lineage's end."""
    env, decided = _store(tmp_path)
    end = _trained_to(env, decided)
    assert end.astimezone(ZoneInfo("Europe/London")).date() < decided.astimezone(ZoneInfo("Europe/London")).date()


def test_train_as_of_the_next_morning_includes_it(tmp_path: Path) -> None:
    """The probe has teeth: once the Friday has ended (+ the match duration), the game is a training row."""
    env, decided = _store(tmp_path)
    saturday_morning = datetime.combine(decided.date() + timedelta(days=1), time(3, 0), UTC)
    end = _trained_to(env, saturday_morning)
    assert end.astimezone(ZoneInfo("Europe/London")).date() == decided.astimezone(ZoneInfo("Europe/London")).date()
