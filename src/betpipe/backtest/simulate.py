"""The walk-forward simulation of one run: a simulated clock steps through the decision instants of history and, at
each, settles what has finished, refits on the past when due, prices the events decided now and bets through the
live money path (``betting.strategy.decide`` -> ``betting.placing.place_at_books`` with ``PaperBook``s), the very
functions the live betting run calls.

Only the clock and the book differ from a live run. When a result is known is ``betpipe.sports.ResultTiming``'s one
rule, read from the feature store's ``result_known_at`` (kickoff + duration; for a date-only kickoff the end of its
local day + duration, so a Friday-evening game never counts as played at the Friday decision step). The model is
fitted on rows whose result was known at or before the refit instant, and a bet is settled at the first step at or
after its result is known; an event is priced with features as known strictly before its decision instant; a bet is
priced at the best pre-match quote among the strategy's books (``betting.shopping``) captured at or before that
instant and strictly before kickoff. Nothing here reads a closing price before settlement, and nothing writes outside
the run's ledger. A run is one account with one bankroll over all its competitions, as the live account is. The
ledger lives in memory during the run (written to ``ledger_path`` once at the end), and the bankroll a step sizes
against is the settled P&L the run keeps in step with it: only the run writes its ledger, so that is exactly what
``account_status`` would read (the limits are still checked inside each placing transaction).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from betpipe.backtest.close_source import CLOSE_MODEL, close_source
from betpipe.backtest.data import decision_features, load_events, load_prices, selections_of, valid_prices
from betpipe.backtest.lines import load_line_inputs, with_markets
from betpipe.backtest.spec import BacktestSpec
from betpipe.betting.market_leg import count_no_bet, fair_market, price_matrix, uses_consensus
from betpipe.betting.placing import paper_books, place_at_books
from betpipe.betting.pricing import market_fair_probabilities
from betpipe.betting.restriction import book_summary
from betpipe.betting.risk import RiskLimits
from betpipe.betting.settlement import ClosingKey, EventResult, settle_bets
from betpipe.betting.strategy import decide, runtime_strategy, strategy_limits
from betpipe.clock import SimulatedClock
from betpipe.config import Settings
from betpipe.db import make_engine
from betpipe.db.bulk import as_utc
from betpipe.db.schema import metadata
from betpipe.db.schema_betting import bet_transitions, bets, risk_events, risk_state
from betpipe.modeling import BaseProbabilityModel, default_specs, labels_from_outcome
from betpipe.sports import sport_rules

__all__ = ["RunResult", "ledger_engine", "read_bets", "run"]


@dataclass
class RunResult:
    spec: BacktestSpec
    account: str
    bets: pl.DataFrame  # report.BETS_SCHEMA, one row per bet the ledger placed or rejected
    no_bet: dict[str, int]  # events or selections left unbet before the ledger, by reason
    refits: int
    seconds: dict[str, float] = field(default_factory=dict)
    # Per book: bets, stake and account restriction (``betting.restriction.book_summary``).
    books: list[dict[str, Any]] = field(default_factory=list)


def ledger_engine(path: Path | None) -> Engine:
    """A fresh SQLite ledger holding only the betting tables (no events: ``bets.event_id`` has no foreign key); in
    memory when ``path`` is None (a run's ledger, written to its file once at the end by ``save_ledger``)."""
    if path is None:
        engine = make_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=[bets, bet_transitions, risk_state, risk_events])
    return engine


def save_ledger(engine: Engine, path: Path) -> None:
    """Copy an in-memory ledger to ``path`` (replaced; owner-only, as ``make_engine`` creates SQLite files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    target = sqlite3.connect(path)
    try:
        with engine.connect() as conn:
            source = conn.connection.dbapi_connection
            if not isinstance(source, sqlite3.Connection):
                raise TypeError(f"save_ledger copies an in-memory SQLite ledger, not {type(source).__name__}")
            source.backup(target)
    finally:
        target.close()


def run_limits(spec: BacktestSpec, settings: Settings) -> RiskLimits:
    """The live limits from configuration, with the run's bankroll and price-age rule, then the spec's overrides."""
    base = replace(
        RiskLimits.from_settings(settings),
        starting_bankroll=spec.bankroll,
        max_price_age_seconds=spec.max_price_age_hours * 3600.0,
    )
    return strategy_limits(base, spec.limits)


def _model(spec: BacktestSpec) -> BaseProbabilityModel:
    specs = {s.name: s for s in default_specs(spec.sport) if not s.anchor}
    model = specs[spec.model].build()
    if "seed" in model.get_params(deep=False):
        model.set_params(seed=spec.seed)
    return model


def _fair_close(frame: pl.DataFrame, names: tuple[str, ...]) -> np.ndarray[Any, Any]:
    """Margin-free (multiplicative) sharp closing probabilities, the CLV benchmark; NaN rows where unpriced."""
    return market_fair_probabilities(price_matrix(frame, "close", names), method="multiplicative")


def _event_result(row: dict[str, Any]) -> EventResult:
    """A scored event is finished whatever its status text says; otherwise its status (void ones are voided)."""
    if row["home_score"] is not None and row["away_score"] is not None:
        return EventResult("finished", int(row["home_score"]), int(row["away_score"]))
    return EventResult(str(row["status"]))


def _targets(spec: BacktestSpec, events: pl.DataFrame, engine: Engine) -> tuple[pl.DataFrame, dict[str, int]]:
    """The events of the run's seasons with their prices, and why the others cannot be bet at all."""
    in_seasons = events.filter(pl.col("season").is_between(pl.lit(spec.first_season), pl.lit(spec.last_season)))
    prices = load_prices(
        engine,
        in_seasons,
        sport=spec.sport,
        books=spec.books,
        sharp_book=spec.sharp_book,
        max_price_age_hours=spec.max_price_age_hours,
        consensus_books=spec.consensus_books if uses_consensus(spec.strategy, spec.consensus_weight) else (),
    )
    names = selections_of(spec.sport)
    no_bet: dict[str, int] = {}
    if spec.evaluation_rows:
        has_close = valid_prices(prices, "close", names)
        count_no_bet(no_bet, "outside evaluation rows: no sharp closing price", int((~has_close).sum()))
        prices = prices.filter(pl.Series(has_close))
    timed = prices.get_column("decided_at").is_not_null().to_numpy()
    count_no_bet(no_bet, f"no {spec.book_label} pre-match price captured before kickoff", int((~timed).sum()))
    prices = prices.filter(pl.Series(timed))
    priced = valid_prices(prices, "book", names)
    count_no_bet(no_bet, f"{spec.book_label} price missing or <= 1", int((~priced).sum()))
    return prices.filter(pl.Series(priced)), no_bet


def run(
    spec: BacktestSpec,
    *,
    engine: Engine,
    settings: Settings,
    ledger_path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Walk ``spec`` forward through history and return every bet as the run's own ledger recorded it.

    ``progress(steps_done, steps_total)`` is called at each decision step (a progress bar; it changes nothing)."""
    started = time.perf_counter()
    rules = sport_rules(spec.sport)
    names = rules.outcomes
    market_name = rules.prediction_market
    k = rules.n_outcomes
    events = load_events(engine, sport=spec.sport, competitions=spec.competitions, end=None, settings=settings)
    targets, no_bet = _targets(spec, events, engine)
    account = f"backtest:{spec.run_id}"
    ledger = ledger_engine(None)
    limits = run_limits(spec, settings)
    strategy = runtime_strategy(spec.strategy_spec())
    books = paper_books(spec.seed)
    seconds = {"load": time.perf_counter() - started, "fit": 0.0, "bet": 0.0, "settle": 0.0}
    needs_model = spec.strategy != "market"
    features = pl.DataFrame()
    if needs_model and targets.height:
        features = decision_features(
            engine,
            sport=spec.sport,
            event_ids=targets.get_column("event_id").to_list(),
            decided_at=targets.get_column("decided_at").to_list(),
            settings=settings,
        )
    close_p_model, close_fits = None, 0  # the model of the close (``model="close_model"``): priced up front
    if needs_model and spec.model == CLOSE_MODEL:
        t0 = time.perf_counter()
        source = close_source(
            engine, settings, targets=targets, features=features, competitions=spec.competitions, sport=spec.sport,
            method=spec.market_method, refit_days=spec.refit_days,
        )  # fmt: skip
        close_p_model, close_fits = source.probabilities, source.fits
        for reason, n in source.no_bet.items():
            count_no_bet(no_bet, reason, n)
        seconds["fit"] += time.perf_counter() - t0
    market_p = fair_market(
        targets,
        names,
        source=spec.strategy,
        method=spec.market_method,
        consensus_weight=spec.consensus_weight,
        sharp_prefix="sharp_pre",
    )
    close_p = _fair_close(targets, names)
    lined = None  # line markets (O/U, AH) of a strategy that lists them: quotes, grids and closes per target
    if strategy.line_markets:
        lined = load_line_inputs(
            engine, targets, market_p, markets=strategy.line_markets, books=spec.books, sharp_book=spec.sharp_book,
            method=spec.market_method, max_price_age_hours=spec.max_price_age_hours,
        )  # fmt: skip
    played = events.filter(pl.col("outcome").is_not_null())
    if k == 2:
        played = played.filter(pl.col("outcome") != 1)
    labels = labels_from_outcome(played.get_column("outcome").to_numpy(), k) if played.height else np.zeros(0)
    known_at = played.get_column("result_known_at")
    # Decision steps as contiguous slices of the targets sorted (stably) by decision instant: each step's rows in
    # their original order, without a filter or a gather per step.
    order = np.argsort(targets.get_column("decided_at").to_numpy(), kind="stable")
    by_step = targets[order]
    step_p = market_p[order]
    step_lines = lined.ordered(order) if lined is not None else None
    step_features = features[order] if features.height else features
    step_close = close_p_model[order] if close_p_model is not None else None
    decided = by_step.get_column("decided_at")
    instants = decided.to_numpy()
    starts = [int(i) for i in np.flatnonzero(np.r_[True, instants[1:] != instants[:-1]])] if targets.height else []
    steps = list(zip(starts, [*starts[1:], targets.height][: len(starts)], strict=True))
    result_at = targets.get_column("result_known_at")
    settle_order = np.argsort(result_at.to_numpy(), kind="stable")
    settle_at = result_at.to_numpy()[settle_order]
    outcomes = [_event_result(row) for row in targets.iter_rows(named=True)]
    settled_upto = 0
    settled_pnl = Decimal(0)  # the ledger's settled P&L, kept in step with it: only this run writes its ledger
    clock = SimulatedClock(as_utc(decided[0]) if steps else as_utc(datetime(1970, 1, 1)))
    model: BaseProbabilityModel | None = None
    next_refit: datetime | None = None
    refits = close_fits
    bet_events: set[int] = set()
    event_ids = targets.get_column("event_id").to_numpy()

    def settle(until: datetime) -> None:
        nonlocal settled_upto, settled_pnl
        upto = int(np.searchsorted(settle_at, np.datetime64(until.replace(tzinfo=None)), "right"))
        due = settle_order[settled_upto:upto]
        settled_upto = max(settled_upto, upto)
        rows = [int(r) for r in due if int(event_ids[int(r)]) in bet_events]
        if not rows:
            return
        t0 = time.perf_counter()
        results = {}
        closing: dict[ClosingKey, float] = {}
        for r in rows:
            event_id = int(event_ids[r])
            results[event_id] = outcomes[r]
            for j, name in enumerate(names):
                p = close_p[r, j]
                if np.isfinite(p):
                    closing[(event_id, market_name, name, 0.0)] = float(p)
            if lined is not None:
                closing.update(lined.closing.get(event_id, {}))
        report = settle_bets(ledger, account=account, results=results, closing=closing, clock=clock)
        settled_pnl += report.pnl
        seconds["settle"] += time.perf_counter() - t0

    for done, (first, end) in enumerate(steps):
        if progress is not None:
            progress(done, len(steps))
        now = as_utc(decided[first])
        # Results known by now are settled at now, as a live settlement job running before the betting run would:
        # the settlement date (the daily-loss limit's day) is never before the result is known.
        clock.advance_to(now)
        settle(now)
        p_model = None
        if step_close is not None:
            p_model = step_close[first:end]
        elif needs_model:
            if next_refit is None or now >= next_refit:
                t0 = time.perf_counter()
                train = np.flatnonzero((known_at <= now).to_numpy())
                model = _model(spec).fit(played[train], labels[train]) if train.size else None
                next_refit = now + timedelta(days=spec.refit_days)
                refits += 1
                seconds["fit"] += time.perf_counter() - t0
            if model is None:
                count_no_bet(no_bet, "no model yet (no results known before the decision)", end - first)
                continue
            p_model = model.predict_proba(step_features.slice(first, end - first))
        t0 = time.perf_counter()
        decision = decide(
            by_step.slice(first, end - first),
            strategy=strategy,
            bankroll=limits.starting_bankroll + settled_pnl,  # what ``account_status`` reads from the ledger
            now=now,
            model_p=p_model,
            market_p=step_p[first:end],
            **(step_lines.at(first, end) if step_lines is not None else {}),
        )
        for reason, n in decision.no_bet.items():
            count_no_bet(no_bet, reason, n)
        if decision.candidates:
            placed = place_at_books(
                ledger, decision.candidates, account=account, clock=clock, limits=limits, book_for=books
            )
            bet_events.update(c.event_id for c, r in zip(decision.candidates, placed, strict=True) if r.placed)
        seconds["bet"] += time.perf_counter() - t0
    if steps:
        last = as_utc(result_at.max())  # type: ignore[arg-type]
        clock.advance_to(max(last, clock.now()))
        settle(clock.now())
    if progress is not None:
        progress(len(steps), len(steps))
    frame = _with_shin_clv(read_bets(ledger, account), targets, names)
    if lined is not None:
        frame = with_markets(frame, ledger, account, market_name)
    per_book = book_summary(ledger, account, limits)
    save_ledger(ledger, ledger_path)
    ledger.dispose()
    seconds["total"] = time.perf_counter() - started
    return RunResult(spec, account, frame, dict(sorted(no_bet.items())), refits, seconds, per_book)


def _with_shin_clv(frame: pl.DataFrame, targets: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """CLV against the Shin-fair sharp close beside the ledger's multiplicative one (where the ledger has a CLV)."""
    if frame.height == 0 or targets.height == 0:
        return frame
    shin = market_fair_probabilities(price_matrix(targets, "close", names), method="shin")
    ids = targets.get_column("event_id")
    close = pl.concat(
        [pl.DataFrame({"event_id": ids, "selection": [n] * ids.len(), "_p": shin[:, j]}) for j, n in enumerate(names)]
    ).with_columns(pl.col("event_id").cast(pl.Int64))
    joined = frame.drop("clv_shin").join(close, on=["event_id", "selection"], how="left", maintain_order="left")
    clv_shin = pl.when(pl.col("clv").is_not_null()).then(pl.col("price") * pl.col("_p") - 1.0).otherwise(None)
    return joined.with_columns(clv_shin.alias("clv_shin")).drop("_p").select(frame.columns)


def read_bets(engine: Engine, account: str) -> pl.DataFrame:
    """The account's bets back from the ledger, money from integer cents; the report's input."""
    from betpipe.backtest.report import BETS_SCHEMA

    query = (
        "SELECT id, event_id, competition, selection, price_e4, stake_cents, probability, edge, state, pnl_cents, "
        "clv, decision_time, kickoff, settled_at, reason, book FROM bets WHERE account = ? ORDER BY id"
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(query, (account,)).fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(16)]
    raw = {
        "bet_id": columns[0],
        "event_id": columns[1],
        "competition": columns[2],
        "selection": columns[3],
        "price": [v / 10_000 for v in columns[4]],
        "stake": [v / 100 for v in columns[5]],
        "probability": columns[6],
        "edge": columns[7],
        "state": columns[8],
        "pnl": [None if v is None else v / 100 for v in columns[9]],
        "clv": columns[10],
        "decided_at": columns[11],
        "kickoff_utc": columns[12],
        "settled_at": columns[13],
        "book": columns[15],
        "clv_shin": [None] * len(columns[0]),
    }
    frame = pl.DataFrame({k: pl.Series(k, list(v), strict=False) for k, v in raw.items()})
    out = []
    for name, dtype in BETS_SCHEMA.items():
        column = frame.get_column(name)
        if isinstance(dtype, pl.Datetime):
            column = column.cast(pl.Utf8).str.to_datetime(time_unit="us").dt.replace_time_zone("UTC")
        out.append(column.cast(dtype).alias(name))
    reasons = pl.Series("reason", list(columns[14]), dtype=pl.Utf8)
    return pl.DataFrame(out).with_columns(reasons)
