"""A run that bets nothing says why (issue 14, defect 6): "could not bet at all" is a non-zero exit with one line,
"looked at prices and found no edge" exits 0 with the reason printed; the same reason reaches GET /opportunities.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, delete, select
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.clock import FixedClock
from betpipe.config import RiskSettings, Settings
from betpipe.db import make_engine, upgrade
from betpipe.db.schema import bookmakers, odds_snapshots
from betpipe.features import build_features
from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
from betpipe.live.opportunities import opportunities
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from fakes.serving_store import wait_ready
from pipeline_store import TOKEN, live_settings, prepare_store
from test_cli_errors import STATE, assert_one_line

runner = CliRunner()


@dataclass(frozen=True)
class LiveStore:
    url: str
    data_dir: Path
    engine: Engine
    eve: datetime  # an hour before the next matchday: bets exist at the default settings

    def settings(self, **pipeline: object) -> Settings:
        return live_settings(self.url, self.data_dir, **pipeline)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStore]:
    """The sample league with features and an Elo champion; the tests only read it."""
    root = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{root / 'betpipe.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    eve = prepare_store(engine, live_settings(url, root / "data"))
    yield LiveStore(url, root / "data", engine, eve)
    engine.dispose()


@pytest.fixture
def live_cli(live: LiveStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LiveStore:
    """The CLI configured as ``live_settings`` is."""
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": live.url, "DATA_DIR": str(live.data_dir), "PIPELINE__BOOK": "sample_soft",
        "PIPELINE__SHARP_BOOK": "sample_sharp", "PIPELINE__SOURCE": "none", "RISK__MAX_PRICE_AGE_SECONDS": "345600",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"BETPIPE_{name}", value)
    monkeypatch.delenv("BETPIPE_CONFIG", raising=False)
    return live


def test_with_candidates_there_is_no_reason(live: LiveStore) -> None:
    found = opportunities(live.engine, live.settings(), FixedClock(live.eve))
    assert found.decision.candidates
    assert (found.reason, found.can_bet) == ("", True)


@pytest.mark.parametrize(
    ("shift", "pipeline", "max_age", "start", "can_bet"),
    [
        (timedelta(days=400), {}, 4 * 86400.0, "no scheduled soccer events", False),
        (-timedelta(days=30), {}, 4 * 86400.0, "no prices: ", False),
        (timedelta(0), {}, 60.0, "stale prices: ", False),
        (timedelta(0), {"min_edge": 5.0}, 4 * 86400.0, "no edge: ", True),
    ],
    ids=["no-events", "no-prices", "stale", "no-edge"],
)
def test_no_candidates_come_with_the_reason(
    live: LiveStore, shift: timedelta, pipeline: dict[str, object], max_age: float, start: str, can_bet: bool
) -> None:
    settings = live.settings(**pipeline).model_copy(update={"risk": RiskSettings(max_price_age_seconds=max_age)})
    found = opportunities(live.engine, settings, FixedClock(live.eve + shift))
    assert found.decision.candidates == []
    assert found.reason.startswith(start), found.reason
    assert found.can_bet is can_bet


def test_no_champion_is_a_reason(sqlite_engine: Engine, tmp_path: Path) -> None:
    ingest_sample(sqlite_engine, SampleLeagueConfig(n_teams=4, n_seasons=2))
    url = sqlite_engine.url.render_as_string(hide_password=False)
    settings = live_settings(url, tmp_path / "data", strategy="blend")  # a strategy that needs the champion
    build_features(sqlite_engine, sport="soccer", settings=settings)
    from betpipe.live.prices import next_matchday_eve

    eve = next_matchday_eve(sqlite_engine, "soccer")
    assert eve is not None
    found = opportunities(sqlite_engine, settings, FixedClock(eve))
    assert found.reason.startswith("no soccer champion model"), found.reason
    assert found.can_bet is False


def test_bet_run_that_cannot_bet_exits_non_zero_in_one_line(live_cli: LiveStore) -> None:
    after = (live_cli.eve + timedelta(days=400)).isoformat()
    for args in (["--dry-run"], []):
        result = runner.invoke(app, ["bet", "run", "--as-of", after, *args])
        assert_one_line(result.exit_code, result.output, {STATE}, "cannot bet: no scheduled soccer events")


def test_bet_run_that_finds_no_edge_exits_zero_and_says_so(
    live_cli: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETPIPE_PIPELINE__MIN_EDGE", "5")
    result = runner.invoke(app, ["bet", "run", "--dry-run", "--as-of", "next-matchday"])
    assert result.exit_code == 0, result.output
    assert "nothing to bet: no edge: " in result.output


def test_opportunities_endpoint_says_why_there_are_none(live: LiveStore) -> None:
    settings = live.settings(min_edge=5.0)
    service = create_app(settings, clock=FixedClock(live.eve), engine=live.engine)
    with background_server(service) as base, httpx.Client(base_url=base, timeout=60) as client:
        wait_ready(client, timeout=120)
        body = client.get("/opportunities", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert body["opportunities"] == []
    assert body["reason"].startswith("no edge: "), body
    assert body["can_bet"] is True


# The backtest: a store whose only prices at the book cannot be bet, like the NFL's consensus closing lines.
BACKTEST = ["backtest", "--in-process", "--out", "report", "-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021"]
BACKTEST += ["--book", "sample_soft", "--sharp-book", "sample_sharp", "--strategy", "market"]


@pytest.fixture
def sample_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    url = f"sqlite:///{tmp_path / 'betpipe.sqlite'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATABASE_URL", url)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_CONFIG", raising=False)
    engine = make_engine(url)
    upgrade(engine)
    ingest_sample(engine, SampleLeagueConfig(n_teams=4, n_seasons=2))
    build_features(engine, sport="soccer", settings=Settings(database_url=url, data_dir=tmp_path / "data"))
    return engine


def _drop(engine: Engine, book: str, kind: str) -> None:
    with engine.begin() as conn:
        book_id = conn.execute(select(bookmakers.c.id).where(bookmakers.c.key == book)).scalar_one()
        conn.execute(
            delete(odds_snapshots).where(odds_snapshots.c.bookmaker_id == book_id, odds_snapshots.c.kind == kind)
        )


@pytest.mark.parametrize(
    ("book", "kind", "fragment"),
    [
        ("sample_soft", "opening", "cannot bet: sample_soft has no pre-match 1x2 price"),  # closing lines only
        ("sample_sharp", "closing", "cannot bet: no event could be priced"),  # no sharp close: no evaluation row
    ],
    ids=["only-closing-prices", "no-evaluation-rows"],
)
def test_a_backtest_that_cannot_bet_exits_non_zero_and_writes_no_report(
    sample_cli: Engine, book: str, kind: str, fragment: str
) -> None:
    _drop(sample_cli, book, kind)
    result = runner.invoke(app, BACKTEST)
    assert_one_line(result.exit_code, result.output, {STATE}, fragment)
    assert not list(Path("report").glob("*.json")), "no report of a run that could not bet"


def test_a_backtest_that_finds_no_edge_exits_zero_and_says_so(sample_cli: Engine) -> None:
    result = runner.invoke(app, [*BACKTEST, "--min-edge", "5"])
    assert result.exit_code == 0, result.output
    assert "no bets: no selection had an edge worth a stake" in result.output
    assert list(Path("report").glob("*.json"))
