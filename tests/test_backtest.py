"""The walk-forward backtest on the sample league: deterministic for a seed, the same on a Dask cluster as in one
process, and never a bet at an aggregate price, at a price not yet known, at or after kickoff, or at a price <= 1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, text

from betpipe.backtest import UNCAPPED_LIMITS, AggregateBookError, BacktestSpec, run, run_many, write_reports
from betpipe.backtest.data import load_prices
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SampleLeagueConfig
from betpipe.sports import sport_rules


@dataclass
class Store:
    engine: Engine
    settings: Settings
    first: str
    last: str

    def spec(self, **changes: object) -> BacktestSpec:
        base = BacktestSpec(
            competitions=("SAMPLE",),
            first_season=self.first,
            last_season=self.last,
            book="sample_soft",
            sharp_book="sample_sharp",
            strategy="market",
            staking="flat:1,simultaneous",
            min_edge=0.0,
            limits=UNCAPPED_LIMITS,
        )
        return replace(base, **changes)  # type: ignore[arg-type]

    def run(self, spec: BacktestSpec, tmp: Path) -> pl.DataFrame:
        return run(spec, engine=self.engine, settings=self.settings, ledger_path=tmp / f"{spec.run_id}.sqlite").bets


def _store(root: Path) -> Store:
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'store.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    ingest_sample(engine, SampleLeagueConfig(n_teams=10, n_seasons=3, n_upcoming_matchdays=0))
    with engine.connect() as conn:
        seasons = sorted(str(r[0]) for r in conn.execute(text("SELECT name FROM seasons")))
    return Store(engine, settings, seasons[1], seasons[-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A sample league (10 teams, 3 seasons); the backtest bets the last two, trained on what came before."""
    made = _store(tmp_path_factory.mktemp("sample_store"))
    yield made
    made.engine.dispose()


def _prices(engine: Engine, book: str) -> pl.DataFrame:
    sql = (
        "SELECT o.id, o.event_id, o.selection, o.price, o.captured_at, e.kickoff_utc FROM odds_snapshots o "
        "JOIN bookmakers b ON b.id = o.bookmaker_id JOIN events e ON e.id = o.event_id "
        f"WHERE b.key = '{book}' AND o.kind = 'opening' AND o.market = '1x2' ORDER BY o.event_id, o.selection"
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql).fetchall()
    frame = pl.DataFrame(rows, schema=["id", "event_id", "selection", "price", "captured_at", "kickoff"], orient="row")
    return frame.with_columns(
        pl.col(c).cast(pl.Utf8).str.to_datetime(time_unit="us").dt.replace_time_zone("UTC")
        for c in ("captured_at", "kickoff")
    )


def test_a_backtest_is_deterministic_for_a_seed(store: Store, tmp_path: Path) -> None:
    """Two runs of the same spec (model refits, Kelly sizing, ledger) give the same bets to the cent."""
    spec = store.spec(strategy="blend", model="elo_logit", staking="kelly:0.25", min_edge=0.01, refit_days=30.0)
    first = store.run(spec, tmp_path / "a")
    second = store.run(spec, tmp_path / "b")
    assert first.height > 20
    assert first.get_column("state").is_in(["won", "lost", "void", "half_won", "half_lost"]).all()
    assert first.equals(second)


def test_the_report_is_the_same_in_one_process_and_on_a_local_dask_cluster(store: Store, tmp_path: Path) -> None:
    """Where a run executes (and in which order runs finish) never changes a figure of the JSON report."""
    specs = [store.spec(strategy="market"), store.spec(strategy="model", staking="kelly:0.25", min_edge=0.02)]
    documents = {}
    for executor in ("inprocess", "local"):
        out = tmp_path / executor
        results = run_many(specs, settings=store.settings, out_dir=out, executor=executor)  # type: ignore[arg-type]
        reports = write_reports(results, out_dir=out)
        documents[executor] = {r.json_path.name: r.json_path.read_text() for r in reports}
        assert all("<svg" in r.html_path.read_text() for r in reports)
    assert len(documents["local"]) == 2
    assert documents["inprocess"] == documents["local"]


def test_no_bet_is_ever_placed_at_an_aggregate_price(store: Store, tmp_path: Path) -> None:
    """Asking to bet at a market maximum is refused outright: nobody can take a maximum over many books."""
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bookmakers (key, name, is_aggregate) VALUES ('market_max', 'Market maximum', :t)"),
            {"t": True},
        )
    try:
        with pytest.raises(ValueError, match="aggregate"):  # the strategy refuses it before any run
            store.spec(book="market_max")
        with pytest.raises(AggregateBookError, match="aggregate"):  # and the data layer refuses it too
            load_prices(
                store.engine, pl.DataFrame({"competition": ["SAMPLE"], "event_id": [1]}), sport="soccer",
                books=("market_max",), sharp_book="sample_sharp", max_price_age_hours=96.0,
            )  # fmt: skip
    finally:
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM bookmakers WHERE key = 'market_max'"))


def test_every_bet_uses_a_price_known_at_its_decision_and_before_kickoff(store: Store, tmp_path: Path) -> None:
    """A price captured at kickoff is never bet; each bet's price is the book's quote captured at its decision time."""
    quotes = _prices(store.engine, "sample_soft")
    late_event = int(quotes.get_column("event_id")[-300])
    original = quotes.filter(pl.col("event_id") == late_event).select("id", "captured_at").rows()
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE odds_snapshots SET captured_at = (SELECT kickoff_utc FROM events WHERE id = :e) "
                "WHERE event_id = :e AND kind = 'opening' "
                "AND bookmaker_id = (SELECT id FROM bookmakers WHERE key = 'sample_soft')"
            ),
            {"e": late_event},
        )
    try:
        bets = store.run(store.spec(), tmp_path)
        quotes = _prices(store.engine, "sample_soft")
    finally:
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE odds_snapshots SET captured_at = :at WHERE id = :i"),
                [{"i": i, "at": at.strftime("%Y-%m-%d %H:%M:%S.%f")} for i, at in original],
            )
    assert bets.height > 50
    assert late_event not in set(bets.get_column("event_id").to_list())
    joined = bets.join(quotes, on=["event_id", "selection"], how="left")
    assert joined.get_column("captured_at").null_count() == 0
    assert (joined.get_column("captured_at") <= joined.get_column("decided_at")).all()
    assert (joined.get_column("decided_at") < joined.get_column("kickoff_utc")).all()
    assert (joined.get_column("price") - joined.get_column("price_right")).abs().max() < 1e-9  # type: ignore[operator]


def test_a_bet_is_settled_only_after_its_result_is_known(store: Store, tmp_path: Path) -> None:
    """Settlement is stamped by the simulated clock at or after kickoff + the match duration, never at placement:
    the daily-loss limit counts losses on the day they become known."""
    bets = store.run(store.spec(), tmp_path).filter(pl.col("settled_at").is_not_null())
    assert bets.height > 50
    known = bets.get_column("kickoff_utc") + sport_rules("soccer").duration
    assert (bets.get_column("settled_at") >= known).all()
    assert (bets.get_column("settled_at") > bets.get_column("decided_at")).all()


def test_a_missing_price_or_a_price_of_one_or_less_means_no_bet(store: Store, tmp_path: Path) -> None:
    """A selection priced 1.0 or an event without the book's price gets no bet, and the reason is counted."""
    baseline = store.run(store.spec(), tmp_path / "base")
    events = baseline.get_column("event_id").unique().sort().to_list()
    bad_price, no_price = int(events[3]), int(events[7])
    soft = "(SELECT id FROM bookmakers WHERE key = 'sample_soft')"
    pair = {"a": bad_price, "b": no_price}
    with store.engine.begin() as conn:
        select_saved = f"SELECT * FROM odds_snapshots WHERE event_id IN (:a, :b) AND bookmaker_id = {soft}"
        saved = [dict(r) for r in conn.execute(text(select_saved), pair).mappings()]
        conn.execute(text(f"UPDATE odds_snapshots SET price = 1.0 WHERE event_id = :a AND bookmaker_id = {soft}"), pair)
        conn.execute(text(f"DELETE FROM odds_snapshots WHERE event_id = :b AND bookmaker_id = {soft}"), pair)
    try:
        ledger = tmp_path / "bad" / "l.sqlite"
        result = run(store.spec(), engine=store.engine, settings=store.settings, ledger_path=ledger)
    finally:
        columns = list(saved[0])
        insert = f"INSERT INTO odds_snapshots ({', '.join(columns)}) VALUES ({', '.join(f':{c}' for c in columns)})"
        with store.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM odds_snapshots WHERE event_id IN (:a, :b) AND bookmaker_id = {soft}"), pair)
            conn.execute(text(insert), saved)
    placed = set(result.bets.get_column("event_id").to_list())
    assert bad_price not in placed
    assert no_price not in placed
    assert result.no_bet.get("sample_soft price missing or <= 1", 0) >= 1
    assert result.no_bet.get("no sample_soft pre-match price captured before kickoff", 0) >= 1
    assert (result.bets.get_column("price") > 1.0).all()


def test_the_backtest_reads_a_postgresql_store_like_a_sqlite_one(engine: Engine, store: Store, tmp_path: Path) -> None:
    """The store's backend changes no bet: the same sample league gives the same bets on each backend."""
    ingest_sample(engine, SampleLeagueConfig(n_teams=10, n_seasons=3, n_upcoming_matchdays=0))
    settings = Settings(data_dir=tmp_path / "data", database_url=engine.url.render_as_string(hide_password=False))
    spec = store.spec()
    here = run(spec, engine=engine, settings=settings, ledger_path=tmp_path / "here.sqlite").bets
    reference = store.run(spec, tmp_path / "reference")
    columns = ["competition", "selection", "price", "stake", "state", "pnl", "clv", "decided_at", "kickoff_utc"]
    assert here.height == reference.height > 50
    assert here.select(columns).equals(reference.select(columns))


def _add_consensus(engine: Engine, late: int, after_decision: int) -> None:
    """A market-average aggregate quoting exactly the sharp book's pre-match prices at the same instants, except
    ``late`` (captured at kickoff) and ``after_decision`` (captured an hour after the soft book's price)."""
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bookmakers (key, name, is_aggregate) VALUES ('market_avg', 'Market avg', :t)"),
            {"t": True},
        )
        conn.execute(
            text(
                "INSERT INTO odds_snapshots (event_id, bookmaker_id, market, selection, line, price, kind, "
                "captured_at, source) SELECT o.event_id, (SELECT id FROM bookmakers WHERE key = 'market_avg'), "
                "o.market, o.selection, o.line, o.price, o.kind, o.captured_at, 'test' FROM odds_snapshots o "
                "JOIN bookmakers b "
                "ON b.id = o.bookmaker_id WHERE b.key = 'sample_sharp' AND o.kind = 'opening'"
            )
        )
        avg = "bookmaker_id = (SELECT id FROM bookmakers WHERE key = 'market_avg')"
        conn.execute(
            text(
                "UPDATE odds_snapshots SET captured_at = (SELECT kickoff_utc FROM events WHERE id = :e) "
                f"WHERE event_id = :e AND {avg}"
            ),
            {"e": late},
        )
    soft = _prices(engine, "sample_soft").filter(pl.col("event_id") == after_decision)
    later = soft.get_column("captured_at").min() + timedelta(hours=1)  # type: ignore[operator]
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE odds_snapshots SET captured_at = :at WHERE event_id = :e AND {avg}"),
            {"e": after_decision, "at": later.strftime("%Y-%m-%d %H:%M:%S.%f")},
        )


def _drop_consensus(engine: Engine) -> None:
    with engine.begin() as conn:
        avg = "(SELECT id FROM bookmakers WHERE key = 'market_avg')"
        conn.execute(text(f"DELETE FROM odds_snapshots WHERE bookmaker_id = {avg}"))
        conn.execute(text("DELETE FROM bookmakers WHERE key = 'market_avg'"))


def test_the_consensus_input_obeys_the_pre_match_time_rule_and_is_never_a_price(store: Store, tmp_path: Path) -> None:
    """An aggregate's quote captured at kickoff, or after the decision, is not an input; bets stay at the book's price.

    The consensus here repeats the sharp book's quotes, so pooling it at any weight leaves the fair probabilities
    unchanged: the consensus run must place exactly the market run's bets minus the two events whose consensus was
    not known at the decision (no silent fallback to the sharp book alone).
    """
    baseline = store.run(store.spec(), tmp_path / "base")
    events = baseline.get_column("event_id").unique().sort().to_list()
    late, after = int(events[5]), int(events[11])
    _add_consensus(store.engine, late, after)
    try:
        pooled = store.run(store.spec(consensus_weight=1.0), tmp_path / "pooled")
        shin = store.run(store.spec(consensus_weight=0.5, market_method="shin"), tmp_path / "shin")
    finally:
        _drop_consensus(store.engine)
    expected = baseline.filter(~pl.col("event_id").is_in([late, after]))
    columns = ["event_id", "selection", "price", "stake", "clv", "decided_at"]
    assert pooled.select(columns).equals(expected.select(columns))
    assert not set(shin.get_column("event_id").to_list()) & {late, after}
    soft = _prices(store.engine, "sample_soft").rename({"price": "book_price"})
    joined = shin.join(soft, on=["event_id", "selection"], how="left")
    assert (joined.get_column("price") - joined.get_column("book_price")).abs().max() < 1e-9  # type: ignore[operator]


def test_a_spec_with_another_market_method_or_consensus_is_named_and_hashed_apart(store: Store) -> None:
    """Two different fair-probability sources must never share a ledger account or a report file."""
    plain, shin, pooled = store.spec(), store.spec(market_method="shin"), store.spec(consensus_weight=0.5)
    assert len({plain.run_id, shin.run_id, pooled.run_id}) == 3
    assert len({plain.name, shin.name, pooled.name}) == 3
    assert BacktestSpec.from_json(pooled.to_json()) == pooled
    with pytest.raises(ValueError, match="market method"):
        store.spec(market_method="guess")
    with pytest.raises(ValueError, match="consensus weight"):
        store.spec(consensus_weight=1.5)


def test_equal_count_comparison_cuts_the_reference_to_its_highest_edges() -> None:
    """A stricter strategy must be compared with the reference's best bets, not its whole (diluted) book."""
    from betpipe.backtest import equal_count_clv_difference, paired_clv_difference

    reference = pl.DataFrame(
        {
            "bet_id": [1, 2, 3, 4],
            "event_id": [10, 11, 12, 13],
            "edge": [0.01, 0.05, 0.002, 0.03],
            "clv": [0.00, 0.04, -0.02, 0.02],
        }
    )
    same_as_top = reference.filter(pl.col("bet_id").is_in([2, 4]))
    diff = equal_count_clv_difference(same_as_top, reference)
    assert diff is not None
    assert (diff.mean, diff.low, diff.high) == pytest.approx((0.0, 0.0, 0.0))
    selective = pl.DataFrame({"bet_id": [7, 8], "event_id": [10, 12], "edge": [0.02, 0.02], "clv": [0.01, 0.01]})
    whole = paired_clv_difference(selective, reference)
    cut = equal_count_clv_difference(selective, reference)
    assert whole is not None
    assert cut is not None
    assert whole.mean == pytest.approx(0.01 - 0.01)  # beats nothing against the whole book's mean of 0.01
    assert cut.mean == pytest.approx(0.01 - 0.03)  # and loses to the reference's two best bets
