"""The live betting run and the service's /opportunities: upcoming events priced at the configured book's latest
pre-match quote known now, fair probabilities from the champion and/or the sharp book, ``betting.strategy.decide``,
then ``place_bets`` (or, for a dry run, the same risk controls without writing).

Only the clock and the book differ from the backtest: the decision, sizing, risk and ledger code are the same calls.
Must never bet a price captured after the clock's now or at/after kickoff, never quote an aggregate book, and never
write to the ledger on a dry run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from betpipe.betting.accounts import RiskRow, account_status, load_exposure
from betpipe.betting.books import Book, PaperBook
from betpipe.betting.ledger import BetCandidate, PlacementResult, place_bets, precheck, recorded_decisions
from betpipe.betting.placing import place_at_books
from betpipe.betting.policy import StakingPolicy
from betpipe.betting.pricing import market_fair_probabilities
from betpipe.betting.risk import RiskLimits
from betpipe.betting.shopping import best_prices
from betpipe.betting.strategy import (
    PRICE_TIME_COLUMN,
    Decision,
    Strategy,
    decide,
    quotes_of,
    runtime_strategy,
    strategy_limits,
)
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, StrategySpec
from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots
from betpipe.registry import ModelCache, RegistryError
from betpipe.serving.features import load_feature_snapshot
from betpipe.serving.predict import SportPredictor
from betpipe.sports import sport_rules

__all__ = [
    "BettingRun",
    "Opportunities",
    "betting_run",
    "dry_run_checks",
    "live_limits",
    "live_strategy",
    "live_strategy_spec",
    "next_matchday_eve",
    "opportunities",
    "scheduled_events",
    "why_no_bet",
]

PRE_MATCH_KINDS = ("opening", "live")  # football-data / sample pre-match, The Odds API before kickoff


def live_strategy_spec(settings: Settings, engine: Engine | None = None) -> StrategySpec:
    """The strategy the live run loads: the sport's promoted one (``betpipe strategy promote``) when there is one,
    else the built-in default (``DEFAULT_STRATEGY``) with what ``[pipeline]`` sets (one ``book`` instead of line
    shopping, sharp book, source, staking, min edge, weight) and ``[risk]``'s price age when it is set (unset, the
    default's: so the default live strategy is the default backtest's, version for version)."""
    p = settings.pipeline
    age = settings.risk.max_price_age_seconds if "max_price_age_seconds" in settings.risk.model_fields_set else None
    if engine is not None:
        from betpipe.registry.strategies import live_strategy_record

        stored = live_strategy_record(engine, p.sport)
        if stored is not None:
            return stored.spec
    return replace(
        DEFAULT_STRATEGY, sport=p.sport, source=p.strategy, books=(p.book,) if p.book else DEFAULT_STRATEGY.books,  # type: ignore[arg-type]
        sharp_book=p.sharp_book, staking=p.staking, min_edge=p.min_edge, market_weight=p.market_weight,
        max_price_age_hours=age / 3600.0 if age is not None else DEFAULT_STRATEGY.max_price_age_hours,
    )  # fmt: skip


def live_strategy(settings: Settings, engine: Engine | None = None) -> Strategy:
    """The live strategy ready to run; its name (the ledger's ``strategy``) spells out what decided the bet.

    A promoted strategy stakes exactly as its text says (as its backtest did); the built-in default fills what the
    staking text leaves out from ``[bankroll]`` and ``[risk]`` (``StakingPolicy.from_settings``)."""
    spec = live_strategy_spec(settings, engine)
    promoted = engine is not None and spec is not None and _is_promoted(engine, settings.pipeline.sport)
    strategy = runtime_strategy(spec, name=f"live:{spec.name}")
    if promoted:
        return replace(strategy, name=f"live:{spec.version}:{spec.name}"[:100])
    return replace(strategy, policy=StakingPolicy.from_settings(settings))


def _is_promoted(engine: Engine, sport: str) -> bool:
    from betpipe.registry.strategies import live_strategy_record

    return live_strategy_record(engine, sport) is not None


def live_limits(spec: StrategySpec, settings: Settings) -> RiskLimits:
    """The live account's limits: configuration, then the strategy's price age and limit overrides."""
    base = replace(RiskLimits.from_settings(settings), max_price_age_seconds=spec.max_price_age_hours * 3600.0)
    return strategy_limits(base, spec.limits)


def latest_prices(
    engine: Engine,
    *,
    sport: str,
    books: Sequence[str],
    now: datetime,
    competitions_: Sequence[str] = (),
    aggregates: bool = False,
) -> pl.DataFrame:
    """Per (scheduled event after ``now``, book): the latest complete pre-match market captured at or before ``now``
    and before kickoff. Columns: event_id, competition, kickoff_utc, book, decided_at, one column per outcome.
    Aggregate books only with ``aggregates`` (consensus inputs, never a price to bet at)."""
    rules = sport_rules(sport)
    names = rules.outcomes
    now = as_utc_instant(now)
    query = (
        select(
            events.c.id,
            competitions.c.code,
            events.c.kickoff_utc,
            bookmakers.c.key,
            odds_snapshots.c.captured_at,
            odds_snapshots.c.selection,
            odds_snapshots.c.price,
        )
        .select_from(
            odds_snapshots.join(events, events.c.id == odds_snapshots.c.event_id)
            .join(competitions, competitions.c.id == events.c.competition_id)
            .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
        )
        .where(
            events.c.sport == sport,
            events.c.status == "scheduled",
            events.c.kickoff_utc > now,
            odds_snapshots.c.market == rules.prediction_market,
            odds_snapshots.c.kind.in_(PRE_MATCH_KINDS),
            odds_snapshots.c.captured_at <= now,
            odds_snapshots.c.line == 0,
            bookmakers.c.key.in_(list(books)),
            bookmakers.c.is_aggregate.is_(aggregates),
        )
    )
    if competitions_:
        query = query.where(competitions.c.code.in_(list(competitions_)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    schema = ["event_id", "competition", "kickoff_utc", "book", "decided_at", "selection", "price"]
    if not rows:
        empty: dict[str, pl.DataType] = {"event_id": pl.Int64(), "competition": pl.Utf8(), "book": pl.Utf8()}
        empty |= {"kickoff_utc": pl.Datetime("us", "UTC"), "decided_at": pl.Datetime("us", "UTC")}
        empty |= {n: pl.Float64() for n in names}
        return pl.DataFrame(schema=empty).select("event_id", "competition", "kickoff_utc", "book", "decided_at", *names)
    frame = pl.DataFrame(
        [(int(r[0]), r[1], as_utc(r[2]), r[3], as_utc(r[4]), r[5], float(r[6])) for r in rows],
        schema=schema,
        orient="row",
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    frame = frame.filter(pl.col("decided_at") < pl.col("kickoff_utc"), pl.col("selection").is_in(list(names)))
    wide = frame.pivot(
        on="selection", index=["event_id", "competition", "kickoff_utc", "book", "decided_at"], values="price"
    )
    for name in names:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    complete = wide.filter(pl.all_horizontal(pl.col(n).is_not_null() for n in names))
    return (
        complete.sort("event_id", "book", "decided_at")
        .group_by("event_id", "book", maintain_order=True)
        .last()
        .select("event_id", "competition", "kickoff_utc", "book", "decided_at", *names)
    )


def next_matchday_eve(engine: Engine, sport: str, *, lead: timedelta = timedelta(hours=1)) -> datetime | None:
    """``lead`` before the earliest scheduled kickoff in the store: "now" for replaying stored data (the demo)."""
    from sqlalchemy import func

    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(events.c.kickoff_utc)).where(events.c.sport == sport, events.c.status == "scheduled")
        ).scalar()
    return None if first is None else as_utc(first) - lead


def scheduled_events(engine: Engine, sport: str, now: datetime, competitions_: Sequence[str] = ()) -> int:
    """How many events of ``sport`` (of ``competitions_``, when given) are scheduled to kick off after ``now``."""
    from sqlalchemy import func

    query = (
        select(func.count())
        .select_from(events.join(competitions, competitions.c.id == events.c.competition_id))
        .where(events.c.sport == sport, events.c.status == "scheduled", events.c.kickoff_utc > as_utc_instant(now))
    )
    if competitions_:
        query = query.where(competitions.c.code.in_(list(competitions_)))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@dataclass(frozen=True)
class Opportunities:
    """What the strategy would bet now, with the inputs it decided on.

    With no candidate, ``reason`` says why in one line, and ``can_bet`` tells "could not bet at all" (no scheduled
    event, no price to take, no champion, only stale prices: a state to fix) from "looked and found no edge" (a
    normal answer). With candidates, ``reason`` is empty.
    """

    strategy: Strategy
    decision: Decision
    model_version: int | None
    events: pl.DataFrame  # the priced rows ``decide`` saw (event_id, competition, kickoff_utc, decided_at, book_*)
    now: datetime
    notes: list[str] = field(default_factory=list)
    reason: str = ""
    can_bet: bool = True


def _top(no_bet: dict[str, int], keys: Sequence[str]) -> str:
    return "; ".join(f"{no_bet[k]} x {k}" for k in sorted(keys, key=lambda k: (-no_bet[k], k)))


def why_no_bet(decision: Decision, *, priced: int, min_edge: float) -> tuple[str, bool]:
    """(reason, could it bet at all) for a decision on ``priced`` priced events that produced no candidate.

    Sizing reasons mean prices were looked at and none was worth a stake: "no edge", a normal answer. Anything else
    (every price stale, captured too late, no probability) means nothing could be priced: the run could not bet.
    """
    sizing = [k for k in decision.no_bet if k.startswith("sizing:")]
    if sizing:
        found = _top(decision.no_bet, sizing)
        return f"no edge: {priced} priced event(s), no selection with edge >= {min_edge:g} ({found})", True
    stale = [k for k in decision.no_bet if k.startswith("stale price")]
    if stale and len(stale) == len(decision.no_bet):
        found = _top(decision.no_bet, stale)
        return f"stale prices: {priced} priced event(s), every price older than the limit ({found})", False
    detail = _top(decision.no_bet, list(decision.no_bet)) or "no usable price"
    return f"no bettable prices: {priced} priced event(s), none could be priced ({detail})", False


def _fair_market(spec: StrategySpec, frame: pl.DataFrame, names: Sequence[str]) -> np.ndarray[Any, Any]:
    """The market leg, by the function and options the backtest uses (method, consensus at its weight)."""
    prices = frame.select([pl.col(f"sharp_{n}") for n in names]).to_numpy().astype(np.float64)
    consensus = None
    if spec.uses_consensus:
        consensus = frame.select([pl.col(f"cons_{n}") for n in names]).to_numpy().astype(np.float64)
    return market_fair_probabilities(
        prices,
        consensus,
        method=spec.market_method,
        consensus_weight=spec.consensus_weight if consensus is not None else 0.0,
    )


def _inputs(
    frame: pl.DataFrame, found: pl.DataFrame, prefix: str, names: Sequence[str], max_age: timedelta
) -> pl.DataFrame:
    """Joins ``found`` (one row per event) as ``prefix_*`` inputs, nulled when captured after the decision instant
    or more than ``max_age`` before it (a stale or future price is no market view at all)."""
    at = f"{prefix}_at"
    rows = found.select("event_id", pl.col("decided_at").alias(at), *[pl.col(n).alias(f"{prefix}_{n}") for n in names])
    out = frame.join(rows, on="event_id", how="left")
    if not out.height:
        return out
    stale = (pl.col(PRICE_TIME_COLUMN) - pl.col(at)) > pl.duration(seconds=max_age.total_seconds())
    future = pl.col(at) > pl.col(PRICE_TIME_COLUMN)
    return out.with_columns(
        [pl.when(stale | future).then(None).otherwise(pl.col(f"{prefix}_{n}")).alias(f"{prefix}_{n}") for n in names]
    )


def _first_per_event(frame: pl.DataFrame, books: Sequence[str]) -> pl.DataFrame:
    """Per event, the latest consensus market, the earlier of ``books`` on a tie: the backtest's consensus rule."""
    rank = {b: i for i, b in enumerate(books)}
    ranked = frame.with_columns(pl.col("book").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
    ordered = ranked.sort("event_id", "decided_at", "_rank", descending=[False, False, True])
    return ordered.group_by("event_id", maintain_order=True).last().drop("_rank")


def _champion(engine: Engine, settings: Settings, sport: str) -> SportPredictor | None:
    features = load_feature_snapshot(engine, sport, settings)
    if features is None:
        return None
    champion = ModelCache(engine, settings).get_champion(sport, sport_rules(sport).prediction_market)
    return SportPredictor.build(features, champion)


def opportunities(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    competition: str | None = None,
    predictor: SportPredictor | None = None,
    bankroll_account: str | None = None,
) -> Opportunities:
    """Priced and sized candidates for every upcoming event (no risk check, nothing written).

    ``predictor`` (the service passes its loaded one) avoids loading the champion; without it the registry's is
    loaded when the strategy needs a model.
    """
    p = settings.pipeline
    spec = live_strategy_spec(settings, engine)
    strategy = live_strategy(settings, engine)
    rules = sport_rules(p.sport)
    names = rules.outcomes
    now = as_utc_instant(clock.now())
    notes: list[str] = []
    wanted = [competition] if competition else list(p.competitions)
    where = f" in {', '.join(wanted)}" if wanted else ""
    scheduled = scheduled_events(engine, p.sport, now, wanted)
    if not scheduled:
        reason = f"no scheduled {p.sport} events{where} after {now.isoformat()}: nothing to bet on"
        return Opportunities(strategy, Decision([]), None, pl.DataFrame(), now, notes, reason, can_bet=False)
    max_age = timedelta(hours=spec.max_price_age_hours)
    prices = latest_prices(engine, sport=p.sport, books=[*spec.books, spec.sharp_book], now=now, competitions_=wanted)
    shopped = best_prices(prices.filter(pl.col("book") != spec.sharp_book), names, spec.books, now=now, max_age=max_age)
    frame = shopped.with_columns(pl.col("decided_at").alias(PRICE_TIME_COLUMN))
    frame = _inputs(frame, prices.filter(pl.col("book") == spec.sharp_book), "sharp", names, max_age)
    if spec.uses_consensus:
        cons = latest_prices(
            engine, sport=p.sport, books=spec.consensus_books, now=now, competitions_=wanted, aggregates=True
        )
        frame = _inputs(frame, _first_per_event(cons, spec.consensus_books), "cons", names, max_age)
    frame = frame.sort("kickoff_utc", "event_id")
    priced = frame.height
    model_p: np.ndarray[Any, Any] | None = None
    model_version: int | None = None
    if strategy.source != "market" and frame.height:
        if predictor is None:
            try:
                predictor = _champion(engine, settings, p.sport)
            except RegistryError as error:
                notes.append(str(error))
        if predictor is None:
            notes.append("no champion model with a feature build: no model probabilities, no bets")
            reason = f"no {p.sport} champion model with a feature build to price {frame.height} event(s): promote one"
            decision = Decision([], {"no champion model": frame.height})
            return Opportunities(strategy, decision, None, frame, now, notes, reason, can_bet=False)
        model_version = predictor.champion.version.id
        row_of = predictor.features.row_of_event
        ids = frame.get_column("event_id").to_list()
        known = np.array([i in row_of for i in ids], dtype=bool)
        if not known.all():
            notes.append(f"{int((~known).sum())} priced event(s) not in the feature build: run `features build`")
            frame = frame.filter(pl.Series(known))
            ids = [i for i, k in zip(ids, known, strict=True) if k]
        rows = np.array([row_of[i] for i in ids], dtype=np.int64)
        model_p = predictor.upcoming_proba[model_version][rows] if rows.size else np.empty((0, len(names)))
    market_p = _fair_market(spec, frame, names) if frame.height else np.empty((0, len(names)))
    account = bankroll_account or p.account
    bankroll = account_status(engine, account, limits=live_limits(spec, settings), clock=clock).bankroll
    decision = decide(
        frame,
        strategy=strategy,
        bankroll=bankroll,
        now=now,
        model_p=model_p,
        market_p=market_p,
        model_version=model_version,
        max_price_age=max_age,
    )
    reason, can_bet = "", True
    if not priced:
        books = "/".join(spec.books)
        reason = f"no prices: {scheduled} scheduled event(s){where}, none with a pre-match {books} price known now"
        can_bet = False
    elif not frame.height:
        reason, can_bet = f"none of the {priced} priced event(s) is in the feature build: run `features build`", False
    elif not decision.candidates:
        reason, can_bet = why_no_bet(decision, priced=frame.height, min_edge=spec.min_edge)
    return Opportunities(strategy, decision, model_version, frame, now, notes, reason, can_bet)


def dry_run_checks(
    engine: Engine, candidates: Sequence[BetCandidate], *, account: str, limits: RiskLimits, clock: Clock
) -> list[str | None]:
    """Per candidate: why ``place_bets`` would reject it now (input, risk control, already in the ledger), or None.

    The same checks as ``place_bets`` (``ledger.precheck``: a stake above a limit's headroom is cut, not rejected,
    and a decision a lifted control rejected is checked again) against the same running exposure, read without the
    account lock and without writing: an answer for display, not a reservation (``place_bets`` re-checks under the
    lock).
    """
    status = account_status(engine, account, limits=limits, clock=clock)
    row = RiskRow(account, status.halted, status.halted_reason, status.halted_at)
    now = as_utc_instant(clock.now())
    keys = [c.key_for(account) for c in candidates]
    out: list[str | None] = []
    with engine.connect() as conn:
        state = load_exposure(conn, row, now)
        recorded = recorded_decisions(conn, keys)
    for candidate, key in zip(candidates, keys, strict=True):
        prior = recorded.get(key)
        if prior is not None and not prior.retryable:
            out.append("already in the ledger (same decision)")
            continue
        verdict = precheck(candidate, state, limits)
        if verdict.violation is None:
            state.add(candidate.event_id, candidate.competition, verdict.stake)
        out.append(None if verdict.violation is None else verdict.violation.reason)
    return out


@dataclass(frozen=True)
class BettingRun:
    opportunities: Opportunities
    placements: list[PlacementResult]  # empty on a dry run
    checks: list[str | None]  # dry run: why each candidate would be rejected (None: it would be placed)
    dry_run: bool

    @property
    def placed(self) -> int:
        return sum(1 for r in self.placements if r.placed and not r.duplicate)


def betting_run(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    competition: str | None = None,
    dry_run: bool = False,
    book: Book | None = None,
) -> BettingRun:
    """One live betting run: decide, then place through the ledger (a rerun places nothing twice)."""
    found = opportunities(engine, settings, clock, competition=competition)
    candidates = found.decision.candidates
    limits = live_limits(live_strategy_spec(settings, engine), settings)
    account = settings.pipeline.account
    if dry_run or not candidates:
        checks = dry_run_checks(engine, candidates, account=account, limits=limits, clock=clock) if candidates else []
        return BettingRun(found, [], checks, dry_run)
    if book is not None:  # one given book takes every candidate (a caller's own book, e.g. a test's)
        placements = place_bets(engine, candidates, account=account, book=book, clock=clock, limits=limits)
    else:  # each candidate at the book its price came from, on paper at the decided price

        def paper(name: str, group: list[BetCandidate]) -> Book:
            return PaperBook(name=name, prices=quotes_of(group))

        placements = place_at_books(engine, candidates, account=account, clock=clock, limits=limits, book_for=paper)
    return BettingRun(found, placements, [], False)
