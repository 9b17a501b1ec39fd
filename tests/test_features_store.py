"""The feature store end to end: build, catalogue, contract of the training matrix, one-event as-of lookups."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select

from betpipe.clock import SYSTEM_CLOCK
from betpipe.config import Settings
from betpipe.db.schema_features import feature_builds
from betpipe.features import build_features, elo_sanity_check, event_features, training_matrix
from betpipe.ingest.records import NormalisedBatch
from test_features_data import league_batch, load_league

CONTRACT = {
    "event_id": pl.Int64,
    "sport": pl.Utf8,
    "competition": pl.Utf8,
    "season": pl.Utf8,
    "kickoff_utc": pl.Datetime("us", "UTC"),
    "kickoff_time_known": pl.Boolean,
    "home_team_id": pl.Int64,
    "away_team_id": pl.Int64,
    "neutral_site": pl.Boolean,
    "status": pl.Utf8,
    "home_score": pl.Int64,
    "away_score": pl.Int64,
    "outcome": pl.Int8,
    "result_known_at": pl.Datetime("us", "UTC"),
}
REQUIRED_FEATURES = (
    "f_elo_home",
    "f_elo_away",
    "f_elo_diff",
    "f_elo_p_home",
    "f_elo_p_draw",
    "f_rest_days_home",
    "f_rest_days_away",
    "f_market_p_home",
    "f_market_p_draw",
    "f_market_p_away",
    "f_market_overround",
    "f_market_book_spread",
)


def test_build_writes_arrow_tables_and_one_catalogue_row_per_build(engine: Engine, tmp_path: Path) -> None:
    load_league(engine)
    settings = Settings(data_dir=tmp_path)
    steps: list[tuple[str, int, int]] = []
    report = build_features(engine, settings=settings, on_progress=lambda *step: steps.append(step))
    (build,) = report.builds
    assert build.sport == "soccer"
    assert build.events == 24
    assert build.played == 20
    assert steps[-1][1:] == (4, 4)
    with engine.connect() as conn:
        rows = conn.execute(select(feature_builds)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["content_hash"] == build.content_hash
    assert {p["name"] for p in rows[0]["parameters"]} == {"elo", "form", "schedule", "market"}
    stored = pl.read_ipc(build.path / "elo.arrow")
    elo_version = next(p["version"] for p in rows[0]["parameters"] if p["name"] == "elo")
    assert stored["version"].cast(pl.Utf8).unique().to_list() == [elo_version]
    again = build_features(engine, settings=settings).builds[0]
    assert again.content_hash == build.content_hash  # same source, same values
    assert not build.path.exists()
    assert again.path.exists()


def test_training_matrix_follows_the_contract(engine: Engine, tmp_path: Path) -> None:
    load_league(engine)
    m = training_matrix(engine, sport="soccer", settings=Settings(data_dir=tmp_path))
    for name, dtype in CONTRACT.items():
        assert m.schema[name] == dtype, name
    for name in REQUIRED_FEATURES:
        assert m.schema[name] == pl.Float64, name
    assert all(c.startswith(("f_", "bench_")) for c in m.columns if c not in CONTRACT)
    assert m.sort("kickoff_utc", "event_id")["event_id"].equals(m["event_id"])
    assert m.filter(pl.col("status") == "scheduled")["outcome"].is_null().all()
    assert m["bench_ps_close_home"].drop_nulls().len() == 20  # closing prices exist only for played games
    assert m["f_market_n_books"].drop_nulls().max() == 2.0  # pinnacle + bet365; market_max never counts


def test_training_matrix_filters_competitions_and_dates(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_league(sqlite_engine)
    settings = Settings(data_dir=tmp_path)
    everything = training_matrix(sqlite_engine, sport="soccer", settings=settings)
    middle = everything["kickoff_utc"][10]
    later = training_matrix(sqlite_engine, sport="soccer", start=middle, settings=settings)
    assert later["kickoff_utc"].min() == middle
    assert later.height == everything.height - 10
    assert training_matrix(sqlite_engine, sport="soccer", competitions=["NOPE"], settings=settings).is_empty()


def test_one_event_lookup_equals_its_training_row_at_kickoff(engine: Engine, tmp_path: Path) -> None:
    """Serving and training must see the same numbers, or a model is scored on features it never trained on."""
    load_league(engine)
    settings = Settings(data_dir=tmp_path)
    m = training_matrix(engine, sport="soccer", settings=settings)
    for row in m.filter(pl.col("event_id").is_in(m["event_id"].gather([3, 12, 23]).implode())).iter_rows(named=True):
        looked = event_features(
            engine, row["event_id"], as_of=row["kickoff_utc"] + timedelta(days=30), settings=settings
        )
        assert looked.as_of == row["kickoff_utc"]  # never later than kickoff
        for name, value in looked.values.items():
            assert (
                value == pytest.approx(row[name], rel=1e-12, nan_ok=False) if value is not None else row[name] is None
            ), name
        assert set(looked.versions.values()) <= {
            looked.versions["f_elo_home"],
            looked.versions["f_market_p_home"],
            looked.versions["f_rest_days_home"],
            looked.versions["f_form_gf_r5_home"],
        }


def test_lookup_before_kickoff_hides_what_was_not_known_yet(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_league(sqlite_engine)
    settings = Settings(data_dir=tmp_path)
    m = training_matrix(sqlite_engine, sport="soccer", settings=settings)
    row = m.row(8, named=True)  # round 5 of weekly rounds in the first season
    kickoff = row["kickoff_utc"]
    early = event_features(sqlite_engine, row["event_id"], as_of=kickoff - timedelta(days=6), settings=settings)
    assert early.values["f_market_p_home"] is None  # prices were captured one day before kickoff
    assert early.values["f_elo_home"] == row["f_elo_home"]  # last week's result was in by then
    earlier = event_features(sqlite_engine, row["event_id"], as_of=kickoff - timedelta(days=8), settings=settings)
    assert earlier.values["f_elo_home"] != row["f_elo_home"]  # ... but not before last week's kickoff
    for name, known in early.known_at.items():
        assert known is None or known < early.as_of, name
    later = event_features(sqlite_engine, row["event_id"], as_of=kickoff - timedelta(hours=1), settings=settings)
    assert later.values["f_market_p_home"] == pytest.approx(row["f_market_p_home"], rel=1e-12)
    assert later.known_at["f_market_p_home"] == kickoff - timedelta(days=1)


def test_lookup_of_an_unknown_event_raises(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_league(sqlite_engine)
    with pytest.raises(LookupError, match="no event"):
        event_features(sqlite_engine, 999_999, settings=Settings(data_dir=tmp_path))


def test_a_new_matchday_rebuilds_and_leaves_history_untouched(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Adding games after the last build is picked up by the next training matrix without a manual build."""
    settings = Settings(data_dir=tmp_path)
    full = league_batch(rounds=12, upcoming=0)
    first = full.events["row_ref"].head(20).implode()
    load_league(
        sqlite_engine,
        NormalisedBatch(
            source="test",
            locator="first-rounds",
            rows_read=20,
            events=full.events.filter(pl.col("row_ref").is_in(first)),
            results=full.results.filter(pl.col("row_ref").is_in(first)),
            odds=full.odds.filter(pl.col("row_ref").is_in(first)),
        ),
    )
    before = training_matrix(sqlite_engine, sport="soccer", settings=settings)
    load_league(sqlite_engine, full)
    after = training_matrix(sqlite_engine, sport="soccer", settings=settings)
    assert after.height == before.height + 4
    assert after.head(before.height).select(before.columns).equals(before)


def test_elo_sanity_check_reports_log_losses(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_league(sqlite_engine, league_batch(rounds=24, upcoming=0))
    result = elo_sanity_check(sqlite_engine, "TST", settings=Settings(data_dir=tmp_path))
    assert result["seasons"] == 1
    assert result["events"] == 24
    assert 0 < result["log_loss_elo"] < 2
    assert 0 < result["log_loss_base_rate"] < 2


@pytest.mark.shared_data
@pytest.mark.slow
def test_elo_beats_the_base_rate_on_the_shared_premier_league_seasons(
    sqlite_engine: Engine, tmp_path: Path, shared_data: Path
) -> None:
    """The features carry signal: Elo's home-win probability beats the earlier seasons' home-win rate."""
    from betpipe.ingest.football_data import ingest_football_data

    ingest_football_data(sqlite_engine, sorted((shared_data / "football-data" / "E0").glob("*.csv")))
    result = elo_sanity_check(sqlite_engine, "E0", settings=Settings(data_dir=tmp_path))
    assert result["seasons"] >= 10
    assert result["elo_beats_base_rate"], result


def test_building_an_unknown_competition_is_a_clear_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    load_league(sqlite_engine)
    with pytest.raises(LookupError, match="no events for competition 'XX'"):
        build_features(sqlite_engine, competition="XX", settings=Settings(data_dir=tmp_path))
    assert (
        build_features(sqlite_engine, competition="TST", settings=Settings(data_dir=tmp_path)).builds[0].sport
        == "soccer"
    )


def _store(directory: Path) -> Engine:
    from betpipe.db import make_engine, upgrade

    directory.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{directory / 'betpipe.sqlite'}")
    upgrade(engine)
    load_league(engine)
    return engine


def test_a_build_in_one_store_never_deletes_another_stores_build_on_the_same_data_dir(tmp_path: Path) -> None:
    """A live store and a backtest store share BETPIPE_DATA_DIR: rebuilding B must leave A's catalogued build."""
    from betpipe.predict import load_feature_snapshot

    settings = Settings(data_dir=tmp_path / "data")
    a, b = _store(tmp_path / "a"), _store(tmp_path / "b")
    try:
        built_a = build_features(a, settings=settings).builds[0]
        build_features(b, settings=settings)
        build_features(b, settings=settings)  # B's own older build may go; A's may not
        assert built_a.path.is_dir()
        snapshot = load_feature_snapshot(a, "soccer", settings)
        assert snapshot is not None
        assert snapshot.build_id == built_a.build_id
        assert built_a.path.parent != build_features(b, settings=settings).builds[0].path.parent
    finally:
        a.dispose()
        b.dispose()


def test_a_copied_store_keeps_its_build_when_the_copy_rebuilds(tmp_path: Path) -> None:
    """Two copies of one store hold the same catalogue row; a rebuild in the copy must not delete the original's
    files (the reproduction in issue 14: copy a demo store to A and B, build on B, bet on A)."""
    import shutil as _shutil

    from betpipe.db import make_engine
    from betpipe.predict import load_feature_snapshot

    settings = Settings(data_dir=tmp_path / "data")
    a = _store(tmp_path / "a")
    built_a = build_features(a, settings=settings).builds[0]
    a.dispose()
    (tmp_path / "b").mkdir()
    _shutil.copy(tmp_path / "a" / "betpipe.sqlite", tmp_path / "b" / "betpipe.sqlite")
    b = make_engine(f"sqlite:///{tmp_path / 'b' / 'betpipe.sqlite'}")
    a = make_engine(f"sqlite:///{tmp_path / 'a' / 'betpipe.sqlite'}")
    try:
        build_features(b, settings=settings)
        assert built_a.path.is_dir()
        snapshot = load_feature_snapshot(a, "soccer", settings)
        assert snapshot is not None
        assert snapshot.build_id == built_a.build_id
    finally:
        a.dispose()
        b.dispose()


def test_a_missing_build_directory_is_a_one_line_error_naming_the_fix(sqlite_engine: Engine, tmp_path: Path) -> None:
    import shutil as _shutil

    from betpipe.cli._errors import classify
    from betpipe.features.store import MissingBuildError
    from betpipe.predict import load_feature_snapshot

    load_league(sqlite_engine)
    settings = Settings(data_dir=tmp_path / "data")
    build = build_features(sqlite_engine, settings=settings).builds[0]
    _shutil.rmtree(build.path)
    with pytest.raises(MissingBuildError) as raised:
        load_feature_snapshot(sqlite_engine, "soccer", settings)
    verdict = classify(raised.value)
    assert verdict is not None
    code, message = verdict
    assert code == 1
    assert message.startswith(f"feature build {build.build_id} missing")
    assert "run `betpipe features build`" in message


def test_a_reader_whose_build_is_pruned_between_lookup_and_read_reads_the_newer_build(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grid failure on CI: worker A looked up build 1, worker B's build 2 pruned it while A read its files."""
    from betpipe.features import store

    load_league(sqlite_engine)
    settings = Settings(data_dir=tmp_path / "data")
    first = build_features(sqlite_engine, settings=settings).builds[0]
    real_read = store.read_tables
    calls: list[int | None] = []

    def read_while_another_process_rebuilds(directory: Path, *args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("build_id"))  # type: ignore[arg-type]
        if len(calls) == 1:
            build_features(sqlite_engine, settings=settings)  # prunes build 1 under our feet
        return real_read(directory, *args, **kwargs)

    monkeypatch.setattr(store, "read_tables", read_while_another_process_rebuilds)
    store._INDEXES.clear()
    store._CATALOGUE.clear()
    _, entry = store.current_index(sqlite_engine, "soccer", settings, check_source=True)
    assert calls == [first.build_id, first.build_id + 1]
    assert entry.build_id == first.build_id + 1
    assert not first.path.exists()


def _blocked_on(lock: Path) -> bool:
    """Whether some process waits for ``lock`` (Linux lists waiting flock requests in /proc/locks with "->")."""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@pytest.mark.skipif(not Path("/proc/locks").is_file(), reason="needs Linux /proc/locks to see a waiting process")
def test_processes_that_find_a_store_stale_together_build_it_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A second process that found the store stale waits for the build lock and then reuses the build it waited
    for, instead of building (and pruning) again."""
    import os
    import subprocess
    import sys
    import time as _time

    from betpipe.features import store

    load_league(sqlite_engine)
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    script = (
        "from sqlalchemy import create_engine\n"
        "from betpipe.config import Settings\n"
        "from betpipe.features.store import current_index\n"
        f"e = create_engine({url!r})\n"
        f"_, entry = current_index(e, 'soccer', Settings(data_dir={str(data_dir)!r}), check_source=True)\n"
        "print(entry.build_id)\n"
    )
    with store._build_lock(sqlite_engine, "soccer", settings):
        lock = next((data_dir / "features" / "soccer").glob(".*.lock"))
        waiter = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "BETPIPE_DATA_DIR": str(data_dir)},
        )  # fmt: skip
        deadline = _time.monotonic() + 120
        while not _blocked_on(lock):
            assert waiter.poll() is None, waiter.communicate()
            assert _time.monotonic() < deadline, "the second process never waited for the build lock"
            _time.sleep(0.05)
        built = store._build_sport(sqlite_engine, "soccer", settings, None, SYSTEM_CLOCK)
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    assert int(out.strip()) == built.build_id
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(feature_builds.c.id)).scalars().all() == [built.build_id]


def test_a_store_with_two_sports_keeps_both_indexes_loaded(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Lookups alternating between sports (a service over soccer and the NFL) must not reload an index each time:
    one index per sport and store stays loaded, and only a newer build of the same sport replaces it."""
    from betpipe.features import store
    from betpipe.ingest.nflverse import ingest_nflverse
    from test_nflverse import csv_bytes

    load_league(sqlite_engine)
    games = tmp_path / "games.csv"
    games.write_bytes(csv_bytes({}, {"game_id": "2020_02_NE_OAK", "home_team": "OAK", "away_team": "NE"}))
    ingest_nflverse(sqlite_engine, games)
    settings = Settings(data_dir=tmp_path / "data")
    build_features(sqlite_engine, settings=settings)
    store._INDEXES.clear()
    soccer, _ = store.current_index(sqlite_engine, "soccer", settings, check_source=False)
    nfl, _ = store.current_index(sqlite_engine, "american_football", settings, check_source=False)
    assert store.current_index(sqlite_engine, "soccer", settings, check_source=False)[0] is soccer
    assert store.current_index(sqlite_engine, "american_football", settings, check_source=False)[0] is nfl
    rebuilt = build_features(sqlite_engine, sport="soccer", settings=settings).builds[0]
    newer, entry = store.current_index(sqlite_engine, "soccer", settings, check_source=False)
    assert entry.build_id == rebuilt.build_id
    assert newer is not soccer
    assert len(store._INDEXES) == 2  # the soccer index was replaced, the NFL one kept
