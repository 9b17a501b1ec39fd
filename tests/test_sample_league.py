"""The built-in sample league: deterministic, realistic enough to model, priced like real books, idempotent to store."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from betpipe.db.schema import events, odds_snapshots, quarantine, raw_payloads, results
from betpipe.ingest.records import EVENT_SCHEMA, ODDS_SCHEMA
from betpipe.ingest.sample_league import (
    SHARP,
    BookmakerSpec,
    SampleFrames,
    SampleLeagueConfig,
    generate_fixtures_frame,
    generate_sample_league,
    generate_sample_league_with_truth,
    ingest_sample,
    read_sample_payload,
)
from betpipe.ingest.store import ingest_payload

LARGE = 100_000


@pytest.fixture(scope="module")
def large() -> SampleFrames:
    return generate_fixtures_frame(LARGE, seed=11)


@pytest.fixture(scope="module")
def priced_1x2(large: SampleFrames) -> pl.DataFrame:
    """1X2 prices with the true probability of their selection and the margin-free (normalised) probability."""
    truth = large.truth.unpivot(
        on=["p_home", "p_draw", "p_away"], index="event_id", variable_name="selection", value_name="true"
    ).with_columns(pl.col("selection").str.strip_prefix("p_"))
    priced: pl.DataFrame = (
        large.odds.filter(pl.col("market") == "1x2")
        .with_columns(pl.col("bookmaker", "selection", "kind").cast(pl.Utf8), implied=1.0 / pl.col("price"))
        .join(truth, on=["event_id", "selection"])
        .with_columns(fair=pl.col("implied") / pl.col("implied").sum().over("event_id", "bookmaker", "kind"))
    )
    return priced


def test_the_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    """Prevents hidden global randomness: the demo, the tests and the benchmarks must see the same data every run."""
    first, second = generate_sample_league(), generate_sample_league()
    other = generate_sample_league(SampleLeagueConfig(seed=8))
    for name in ("events", "results", "odds"):
        assert getattr(first, name).equals(getattr(second, name))
    assert not first.results.equals(other.results)
    assert not first.odds["price"].equals(other.odds["price"])


def test_every_season_is_a_double_round_robin_on_a_weekly_calendar() -> None:
    """Prevents schedules where teams meet twice at home, or kickoffs at midnight that look like unknown times."""
    batch = generate_sample_league()
    frame = batch.events
    assert frame["season"].unique().sort().to_list() == [f"{y}-{y + 1}" for y in range(2019, 2025)]
    for _, season in frame.group_by("season"):
        assert season.height == 20 * 19
        assert season.select("home_team", "away_team").is_unique().all()
        assert (
            season.select(pl.concat_list("home_team", "away_team").list.sort())
            .to_series()
            .value_counts()["count"]
            .to_list()
            == [2] * 190
        )
        per_round = season.group_by("attributes").agg(pl.col("home_team").append(pl.col("away_team")).n_unique())
        assert per_round.height == 38
        assert (per_round.to_series(1) == 20).all()
    kickoffs = frame["kickoff_utc"]
    assert kickoffs.dt.hour().min() >= 10
    assert kickoffs.dt.minute().is_in([0, 15, 30, 45]).all()
    assert set(kickoffs.dt.weekday().unique().to_list()) <= {2, 3, 6, 7}  # Tue, Wed, Sat, Sun
    assert (kickoffs.dt.weekday().is_in([2, 3])).sum() > 0  # a few midweek rounds
    assert kickoffs.min().date() == date(2019, 8, 10)
    assert frame["kickoff_time_known"].all()
    assert not frame["neutral_site"].any()


def test_outcomes_and_goals_look_like_a_real_league_and_follow_the_true_probabilities(large: SampleFrames) -> None:
    """Prevents a toy league (no home advantage, too few draws) and results that ignore the stated probabilities."""
    played = large.results.join(large.truth, on="event_id")
    home_win = (played["home_score"] > played["away_score"]).mean()
    draw = (played["home_score"] == played["away_score"]).mean()
    goals = (played["home_score"] + played["away_score"]).mean()
    assert 0.43 <= home_win <= 0.47
    assert 0.23 <= draw <= 0.28
    assert 2.6 <= goals <= 2.9
    assert abs(home_win - played["p_home"].mean()) < 0.01
    assert abs(draw - played["p_draw"].mean()) < 0.01
    over = (played["home_score"] + played["away_score"] > 2.5).mean()
    assert abs(over - played["p_over"].mean()) < 0.01
    assert (played["ht_home_score"] <= played["home_score"]).all()


def test_each_book_charges_its_own_margin(large: SampleFrames) -> None:
    """Prevents prices whose overround is not the configured margin (margin removal would then be mis-tested)."""
    overround = (
        large.odds.group_by("event_id", "bookmaker", "market", "kind")
        .agg((1.0 / pl.col("price")).sum().alias("book") - 1.0)
        .group_by("bookmaker", "market")
        .agg(pl.col("book").mean())
    )
    got = {
        (row[0], row[1]): row[2] for row in overround.with_columns(pl.col("bookmaker", "market").cast(pl.Utf8)).rows()
    }
    assert got.keys() == {("sample_sharp", "1x2"), ("sample_sharp", "total"), ("sample_soft", "1x2")}
    assert got["sample_sharp", "1x2"] == pytest.approx(0.025, abs=0.002)
    assert got["sample_sharp", "total"] == pytest.approx(0.025, abs=0.002)
    assert got["sample_soft", "1x2"] == pytest.approx(0.06, abs=0.003)


def test_closing_prices_are_closer_to_the_truth_than_opening_prices(priced_1x2: pl.DataFrame) -> None:
    """Prevents a market without information flow, which would make closing-line value meaningless."""
    error = priced_1x2.group_by("bookmaker", "kind").agg(((pl.col("fair") - pl.col("true")) ** 2).mean().alias("mse"))
    mse = {(row[0], row[1]): row[2] for row in error.rows()}
    for book in ("sample_sharp", "sample_soft"):
        assert mse[book, "closing"] < 0.5 * mse[book, "opening"]
    assert mse["sample_sharp", "closing"] < mse["sample_soft", "closing"]


def test_the_soft_book_overcharges_longshots_and_the_sharp_book_does_not(priced_1x2: pl.DataFrame) -> None:
    """Prevents a soft book without the favourite–longshot bias that value strategies exploit in real markets."""
    band = pl.when(pl.col("true") < 0.2).then(pl.lit("longshot")).when(pl.col("true") > 0.6).then(pl.lit("favourite"))
    ratios = (
        priced_1x2.filter(pl.col("kind") == "closing")
        .with_columns(band=band)
        .drop_nulls("band")
        .group_by("bookmaker", "band")
        .agg((pl.col("implied") / pl.col("true")).mean().alias("ratio"))
    )
    ratio = {(row[0], row[1]): row[2] for row in ratios.rows()}
    assert ratio["sample_soft", "longshot"] - ratio["sample_soft", "favourite"] > 0.08
    assert abs(ratio["sample_sharp", "longshot"] - ratio["sample_sharp", "favourite"]) < 0.02


def test_every_price_is_above_one_and_quoted_to_two_decimals(large: SampleFrames) -> None:
    """Prevents impossible odds (<= 1) that downstream validation would quarantine."""
    prices = large.odds["price"].to_numpy()
    assert prices.min() > 1.01
    assert np.allclose(prices * 100, np.round(prices * 100), atol=1e-6)
    assert large.odds.null_count().sum_horizontal().item() == 0


def test_the_last_matchdays_are_scheduled_with_opening_prices_only() -> None:
    """Prevents leaking results of upcoming games, and an empty 'upcoming' list for prediction and serving."""
    batch, _ = generate_sample_league_with_truth(SampleLeagueConfig(n_upcoming_matchdays=3))
    scheduled = batch.events.filter(pl.col("status") == "scheduled")
    assert scheduled.height == 3 * 10
    assert scheduled["kickoff_utc"].min() > batch.events.filter(pl.col("status") == "finished")["kickoff_utc"].max()
    assert batch.results.join(scheduled, on="row_ref").height == 0
    assert batch.results.height == batch.events.height - scheduled.height
    upcoming_odds = batch.odds.join(scheduled.select("row_ref"), on="row_ref")
    assert upcoming_odds["kind"].unique().to_list() == ["opening"]
    assert upcoming_odds.height == scheduled.height * (3 + 3 + 2)
    none_upcoming = generate_sample_league(SampleLeagueConfig(n_upcoming_matchdays=0))
    assert (none_upcoming.events["status"] == "finished").all()


def test_opening_prices_come_two_to_three_days_before_kickoff_and_closing_at_kickoff() -> None:
    """Prevents snapshots timed after kickoff, which a point-in-time feature would wrongly treat as pre-match."""
    batch = generate_sample_league()
    timed = batch.odds.join(batch.events.select("row_ref", "kickoff_utc"), on="row_ref")
    lead = timed.with_columns(lead=pl.col("kickoff_utc") - pl.col("captured_at"))
    closing, opening = lead.filter(pl.col("kind") == "closing"), lead.filter(pl.col("kind") == "opening")
    assert (closing["lead"] == timedelta(0)).all()
    assert opening["lead"].min() >= timedelta(hours=48)
    assert opening["lead"].max() <= timedelta(hours=72)


def test_the_batch_meets_the_record_contract() -> None:
    """Prevents a batch the writer would reject or mis-store (wrong columns, naive timestamps, missing keys)."""
    batch, truth = generate_sample_league_with_truth(SampleLeagueConfig())
    assert batch.source == "sample_league"
    assert batch.locator == "sample-league?seed=7&teams=20&seasons=6"
    assert batch.events.schema == pl.Schema(EVENT_SCHEMA)
    assert batch.odds.schema == pl.Schema(ODDS_SCHEMA)
    assert batch.rows_read == batch.events.height == 2280
    assert not batch.quarantined
    required = batch.events.drop("attributes").null_count().sum_horizontal().item()
    assert required == 0
    assert batch.events["row_ref"].is_unique().all()
    assert json.loads(batch.events["attributes"][0]) == {"matchday": 1}
    assert truth["row_ref"].sort().equals(batch.events["row_ref"].sort())
    assert np.allclose(truth.select(pl.sum_horizontal("p_home", "p_draw", "p_away")).to_series(), 1.0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"n_teams": 7}, "n_teams must be even"),
        ({"n_teams": 40}, "n_teams must be even"),
        ({"n_seasons": 0}, "n_seasons"),
        ({"n_upcoming_matchdays": 38}, "n_upcoming_matchdays"),
        ({"home_advantage": 0.0}, "home_advantage"),
        ({"dixon_coles_rho": 0.5}, "dixon_coles_rho"),
        ({"opening_lead_hours": (72.0, 48.0)}, "opening_lead_hours"),
        ({"totals_bookmaker": "pinnacle"}, "totals_bookmaker"),
        ({"bookmakers": (SHARP, SHARP)}, "distinct keys"),
    ],
)
def test_invalid_configs_are_rejected_with_the_reason(changes: dict[str, object], reason: str) -> None:
    """Prevents nonsense leagues (odd team counts, negative rates) from being generated silently."""
    with pytest.raises(ValueError, match=reason):
        dataclasses.replace(SampleLeagueConfig(), **changes)


def test_a_book_margin_outside_reason_is_rejected() -> None:
    with pytest.raises(ValueError, match="margin"):
        BookmakerSpec("free_money", margin=-0.01, opening_noise=0.1, closing_noise=0.05)


def test_the_config_json_round_trips_and_regenerates_the_same_batch() -> None:
    """Prevents a raw payload that does not fully describe the data it produced."""
    config = SampleLeagueConfig(seed=3, n_teams=8, n_seasons=2, first_season_start=date(2020, 8, 15))
    assert SampleLeagueConfig.from_json(config.to_json()) == config
    again = read_sample_payload(config.to_json(), "ignored")
    assert again.odds.equals(generate_sample_league(config).odds)


def test_ingesting_twice_stores_the_same_rows_and_reports_everything_unchanged(engine: Engine) -> None:
    """Prevents duplicate rows or spurious updates when `make demo` is run again."""
    first = ingest_sample(engine)
    tables = (events, results, odds_snapshots, raw_payloads)
    with engine.connect() as conn:
        counts = [conn.execute(select(func.count()).select_from(table)).scalar_one() for table in tables]
    assert counts == [2280, 2250, 36240, 1]
    assert first.tables["odds"].inserted == 36240
    assert first.quarantined == 0
    second = ingest_sample(engine)
    with engine.connect() as conn:
        assert [conn.execute(select(func.count()).select_from(table)).scalar_one() for table in tables] == counts
        body = conn.execute(select(raw_payloads.c.body)).scalar_one()
    for name, table_counts in second.tables.items():
        assert (table_counts.inserted, table_counts.updated) == (0, 0), name
        assert table_counts.unchanged == first.tables[name].inserted
    assert SampleLeagueConfig.from_json(bytes(body)) == SampleLeagueConfig()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"n_teams": 5}', b'{"colour": "red"}'])
def test_a_malformed_payload_is_quarantined_not_raised(sqlite_engine: Engine, body: bytes) -> None:
    """Prevents a corrupt stored config from crashing a re-ingest, or being dropped without a trace."""
    report = ingest_payload(
        sqlite_engine,
        source="sample_league",
        locator="sample-league?bad",
        body=body,
        content_type="application/json",
        reader=read_sample_payload,
    )
    assert report.quarantined == 1
    with sqlite_engine.connect() as conn:
        reason = conn.execute(select(quarantine.c.reason)).scalar_one()
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
    assert "not a sample league config" in reason or "invalid SampleLeagueConfig" in reason


def test_the_scaled_generator_yields_exactly_the_requested_events_over_many_leagues(large: SampleFrames) -> None:
    """Prevents benchmark inputs of the wrong size, dangling odds, or teams shared between leagues."""
    frame = large.events
    assert frame.height == LARGE
    assert frame["event_id"].to_list() == list(range(LARGE))
    assert frame["competition_code"].n_unique() == -(-LARGE // 2280)
    assert frame.select("home_idx", "home_team").unique().height == frame["home_idx"].n_unique()
    assert frame.select("home_team", "competition_code").unique().height == frame["home_team"].n_unique()
    assert large.odds["event_id"].is_in(frame["event_id"].implode()).all()
    assert large.odds.height > 15 * LARGE
    finished = frame.filter(pl.col("status") == "finished")["event_id"]
    assert large.results["event_id"].sort().equals(finished.sort())
    assert large.truth.height == LARGE
    assert generate_fixtures_frame(1_000, seed=11).events.height == 1_000


# ------------------------------------------------------------------ one store per data set (issue 14, defect 7)

FOOTBALL_CSV = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nE0,01/08/2020,Arsenal,Chelsea,1,0\n"
SMALL = SampleLeagueConfig(n_teams=4, n_seasons=1)


def _event_sources(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.source, func.count()).group_by(events.c.source)).all()
    return {str(source): int(count) for source, count in rows}


def test_the_sample_league_refuses_a_store_holding_real_data(engine: Engine, tmp_path: Path) -> None:
    """Mixed, training would hold out synthetic matches as a real champion's last season (and evaluation would
    score them as real rows): the sample league gets its own store, and nothing of it is written here."""
    from betpipe.ingest.football_data import ingest_football_data
    from betpipe.ingest.sample_league import MixedStoreError

    csv = tmp_path / "E0.csv"
    csv.write_text(FOOTBALL_CSV)
    ingest_football_data(engine, [csv])
    before = _event_sources(engine)
    with pytest.raises(MixedStoreError, match="own store"):
        ingest_sample(engine, SMALL)
    assert _event_sources(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(raw_payloads.c.source == "sample_league")).scalar() == 0


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from typer.testing import CliRunner

    from betpipe.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    monkeypatch.delenv("BETPIPE_CONFIG", raising=False)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    (tmp_path / "E0.csv").write_text(FOOTBALL_CSV)
    (tmp_path / "games.csv").write_text(
        "game_id,season,game_type,week,gameday,weekday,gametime,away_team,away_score,home_team,home_score\n"
        "2020_01_KC_BAL,2020,REG,1,2020-09-13,Sunday,13:00,KC,20,BAL,27\n"
    )
    return tmp_path / "data"


def _invoke(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from betpipe.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _sources_in(data_dir: Path) -> dict[str, int]:
    from betpipe.db import make_engine

    engine = make_engine(f"sqlite:///{data_dir / 'betpipe.sqlite'}")
    try:
        return _event_sources(engine)
    finally:
        engine.dispose()


def test_ingest_sample_into_a_real_data_store_is_a_one_line_error_naming_the_fix(cli_store: Path) -> None:
    code, output = _invoke("ingest", "football-data", "E0.csv")
    assert code == 0, output
    code, output = _invoke("ingest", "sample", "--teams", "4", "--seasons", "1")
    assert code == 1
    assert output.strip().startswith("error: this store already holds real data")
    assert "BETPIPE_DATA_DIR=" in output
    assert "Traceback" not in output
    assert _sources_in(cli_store) == {"football-data": 1}


@pytest.mark.parametrize("command", [("football-data", "E0.csv"), ("nflverse", "games.csv")])
def test_real_ingests_refuse_a_store_holding_the_sample_league(cli_store: Path, command: tuple[str, str]) -> None:
    code, output = _invoke("ingest", "sample", "--teams", "4", "--seasons", "1")
    assert code == 0, output
    before = _sources_in(cli_store)
    code, output = _invoke("ingest", *command)
    assert code == 1
    assert output.strip().startswith("error: this store holds the generated sample league")
    assert "BETPIPE_DATA_DIR=" in output
    assert _sources_in(cli_store) == before == {"sample_league": before["sample_league"]}
