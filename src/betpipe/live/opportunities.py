"""What the live strategy would bet now (the service's /opportunities and the betting run's decision): upcoming
events priced at the strategy's books' latest pre-match quotes known now, fair probabilities from the champion
(``betpipe.predict``) and/or the sharp book, ``betting.strategy.decide``; and the dry-run risk answer per candidate.

Only the clock and the book differ from the backtest: the market leg, decision, sizing and risk code are the same
calls. Must never bet a price captured after the clock's now or at/after kickoff, never quote an aggregate book,
never write to the ledger, and never import ``serving`` (serving imports this module, not the other way round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.betting.accounts import RiskRow, account_status, load_exposure
from betpipe.betting.ledger import BetCandidate, precheck, recorded_decisions
from betpipe.betting.market_leg import fair_market
from betpipe.betting.markets import best_line_prices, implied_grid
from betpipe.betting.policy import StakingPolicy
from betpipe.betting.restriction import restricted_books
from betpipe.betting.risk import RESTRICTION, RiskLimits
from betpipe.betting.shopping import best_prices
from betpipe.betting.strategy import (
    PRICE_TIME_COLUMN,
    Decision,
    Strategy,
    decide,
    runtime_strategy,
    strategy_limits,
)
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, StrategySpec
from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.live.close_source import CLOSE_MODEL, live_close_probabilities
from betpipe.live.prices import (
    GRID_MARKETS,
    first_per_event,
    joined_inputs,
    latest_line_prices,
    latest_prices,
    scheduled_events,
    sharp_grid_inputs,
)
from betpipe.modeling.score_grid import ScoreGrid
from betpipe.predict import SportPredictor, load_feature_snapshot
from betpipe.registry import ModelCache, RegistryError
from betpipe.sports import sport_rules

__all__ = [
    "DryRunChecks",
    "Opportunities",
    "dry_run_checks",
    "live_limits",
    "live_strategy",
    "live_strategy_spec",
    "opportunities",
    "why_no_bet",
]


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
    frame = joined_inputs(frame, prices.filter(pl.col("book") == spec.sharp_book), "sharp", names, max_age)
    if spec.uses_consensus:
        cons = latest_prices(
            engine, sport=p.sport, books=spec.consensus_books, now=now, competitions_=wanted, aggregates=True
        )
        frame = joined_inputs(frame, first_per_event(cons, spec.consensus_books), "cons", names, max_age)
    frame = frame.sort("kickoff_utc", "event_id")
    priced = frame.height
    model_p: np.ndarray[Any, Any] | None = None
    model_version: int | None = None
    if strategy.source != "market" and frame.height and spec.model == CLOSE_MODEL:  # the model of the close
        try:
            model_p, model_version = live_close_probabilities(engine, settings, frame)
        except (RegistryError, ValueError) as error:
            reason = f"no registered close model to price {frame.height} event(s): {error}"
            decision = Decision([], {"no close model": frame.height})
            return Opportunities(strategy, decision, None, frame, now, [*notes, reason], reason, can_bet=False)
    elif strategy.source != "market" and frame.height:
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
    market_p = (
        fair_market(frame, names, source=spec.source, method=spec.market_method, consensus_weight=spec.consensus_weight)
        if frame.height
        else np.empty((0, len(names)))
    )
    lines, grid = None, None
    if strategy.line_markets and frame.height:
        lines, grid = _line_inputs(engine, spec, frame, market_p, now=now, competitions_=wanted, max_age=max_age)
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
        lines=lines,
        grid=grid,
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


def _line_inputs(
    engine: Engine,
    spec: StrategySpec,
    frame: pl.DataFrame,
    market_p: np.ndarray[Any, Any],
    *,
    now: datetime,
    competitions_: Sequence[str],
    max_age: timedelta,
) -> tuple[pl.DataFrame, ScoreGrid]:
    """The strategy's line markets at its books (best price per line and side) and, per row of ``frame``, the
    market-implied score grid of the fair 1X2 (``market_p``), the sharp book's margin-free O/U 2.5 and its main AH
    line known at the row's decision instant (``live.prices.sharp_grid_inputs``, the backtest's inputs; stale or
    future quotes are not used, and a row without them is fitted from what it has)."""
    line_markets = runtime_strategy(spec).line_markets
    sport = spec.sport
    quotes = latest_line_prices(
        engine,
        sport=sport,
        books=[*spec.books, spec.sharp_book],
        markets=sorted({*line_markets, *GRID_MARKETS}),
        now=now,
        competitions_=competitions_,
    )
    wanted = pl.col("market").is_in(list(line_markets))
    lines = best_line_prices(
        quotes.filter(pl.col("book") != spec.sharp_book, wanted), spec.books, now=now, max_age=max_age
    )
    p_over, ah_line, p_ah = sharp_grid_inputs(
        quotes, frame, sharp_book=spec.sharp_book, method=spec.market_method, max_age=max_age
    )
    return lines, implied_grid(market_p, p_over, ah_line=ah_line, p_ah_home=p_ah)


class DryRunChecks(list[str | None]):
    """``dry_run_checks``' answer: per candidate why ``place_bets`` would reject it (None: placed), a plain list for
    every caller; plus ``restricted``, per restricted book what account restriction would do to this run's stakes
    (issue 15: what could really be staked)."""

    def __init__(self, reasons: Sequence[str | None] = (), restricted: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(reasons)
        self.restricted: list[dict[str, Any]] = list(restricted)


def _restriction_rows(
    restricted: dict[str, int], cuts: dict[str, list[tuple[Decimal, Decimal]]], refused: dict[str, int]
) -> list[dict[str, Any]]:
    """Per restricted book: the CLV wins that restricted it, the candidates cut, the stake asked on them, the stake
    they would place, what the restriction keeps off, and the candidates it refuses (money as exact text)."""
    rows = []
    for book in sorted(restricted):
        pairs = cuts.get(book, [])
        asked, allowed = sum((a for a, _ in pairs), Decimal(0)), sum((b for _, b in pairs), Decimal(0))
        rows.append({
            "book": book, "clv_wins": restricted[book], "bets_cut": len(pairs), "stake_asked": str(asked),
            "stake_allowed": str(allowed), "stake_cut": str(asked - allowed), "refused": refused.get(book, 0),
        })  # fmt: skip
    return rows


def dry_run_checks(
    engine: Engine, candidates: Sequence[BetCandidate], *, account: str, limits: RiskLimits, clock: Clock
) -> DryRunChecks:
    """Per candidate: why ``place_bets`` would reject it now (input, risk control, already in the ledger), or None;
    and per restricted book, the stakes account restriction cuts (``DryRunChecks.restricted``).

    The same checks as ``place_bets`` (``ledger.precheck``: a stake above a limit's headroom is cut, not rejected,
    and a decision a lifted control rejected is checked again) against the same running exposure and the same
    book restriction (``betting.restriction``), read without the account lock and without writing: an answer for
    display, not a reservation (``place_bets`` re-checks under the lock).
    """
    status = account_status(engine, account, limits=limits, clock=clock)
    row = RiskRow(account, status.halted, status.halted_reason, status.halted_at)
    now = as_utc_instant(clock.now())
    keys = [c.key_for(account) for c in candidates]
    out: list[str | None] = []
    with engine.connect() as conn:
        state = load_exposure(conn, row, now)
        state.restricted = restricted_books(conn, account, limits)
        recorded = recorded_decisions(conn, keys)
    cuts: dict[str, list[tuple[Decimal, Decimal]]] = {}
    refused: dict[str, int] = {}
    for candidate, key in zip(candidates, keys, strict=True):
        prior = recorded.get(key)
        if prior is not None and not prior.retryable:
            out.append("already in the ledger (same decision)")
            continue
        verdict = precheck(candidate, state, limits)
        book = str(candidate.book)
        if verdict.violation is None:
            state.add(candidate.event_id, candidate.competition, verdict.stake)
            if verdict.cut is not None and verdict.cut.control == RESTRICTION:
                cuts.setdefault(book, []).append((verdict.cut.before, verdict.cut.after))
        elif verdict.violation.control == RESTRICTION:
            refused[book] = refused.get(book, 0) + 1
        out.append(None if verdict.violation is None else verdict.violation.reason)
    return DryRunChecks(out, _restriction_rows(state.restricted, cuts, refused))
