"""The one betting decision the live run, the service's /opportunities and the backtest share: priced events in,
``BetCandidate``s (and why every other selection got no bet) out.

Pure: no database, no book, no wall clock. The caller passes the instant it decides at (its clock's now), the
bankroll and the fair-probability inputs; only the clock and the book differ between live and backtest. The decision
instant of a bet is the capture instant of the price it is taken at, never "now", so a rerun after a crash decides
the same bet with the same ledger idempotency key. Must never bet a price captured after ``now`` or at/after kickoff,
a stale price, a price <= 1, or a probability row that is not a distribution (each becomes a counted reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray

from betpipe.betting.ledger import BetCandidate
from betpipe.betting.market_leg import count_no_bet
from betpipe.betting.markets import LINE_MARKETS, bet_payoffs, joint_kelly, line_probabilities, size_lines
from betpipe.betting.policy import StakingPolicy
from betpipe.betting.pricing import FairSource, fair_probabilities
from betpipe.betting.risk import RiskLimits
from betpipe.betting.shopping import BOOK_OF
from betpipe.betting.sizing import NoBetReason, SizedEvents, size_events_explained
from betpipe.betting.strategy_spec import StrategySpec
from betpipe.clock import as_utc_instant
from betpipe.db import as_utc
from betpipe.modeling.score_grid import LineProbabilities, ScoreGrid

__all__ = [
    "PRICE_TIME_COLUMN",
    "Decision",
    "Strategy",
    "decide",
    "decide_lines",
    "quotes_of",
    "runtime_strategy",
    "strategy_limits",
]

PRICE_TIME_COLUMN = "decided_at"
"""The instant the row's book prices were captured: the decision instant of any bet on it (the backtest's column)."""

FloatArray = NDArray[np.float64]
QuoteKey = tuple[int, str, str, float]


@dataclass(frozen=True)
class Strategy:
    """How to bet, ready to run: where fair probabilities come from, how to stake, at which book (or, line shopping,
    the book each price came from: the ``at_<selection>`` columns), under which ledger name. ``book_max_stake`` caps a
    stake at a book (``betting.strategy_spec.StrategySpec`` is the stored form this is built from)."""

    name: str
    source: FairSource
    policy: StakingPolicy
    book: str
    market: str  # the prediction market of the sport, e.g. "1x2"
    outcomes: tuple[str, ...]  # its selections in the probability columns' order
    market_weight: float = 0.5
    book_max_stake: dict[str, Decimal] = field(default_factory=dict)
    line_markets: tuple[str, ...] = ()  # O/U and AH lines priced from a score grid (``betting.markets``)
    result_market: bool = True  # bets the sport's result market (a strategy may list only line markets)


def strategy_limits(base: RiskLimits, overrides: dict[str, str]) -> RiskLimits:
    """``base`` with a strategy's limit overrides (``RiskLimits`` field -> text), typed like the field."""
    values: dict[str, Any] = {}
    for name, text in overrides.items():
        if not hasattr(base, name):
            raise ValueError(f"unknown risk limit {name!r} in the strategy's limits")
        current = getattr(base, name)
        values[name] = Decimal(text) if isinstance(current, Decimal) else type(current)(text)
    return replace(base, **values)


def runtime_strategy(spec: StrategySpec, *, name: str | None = None) -> Strategy:
    """The ``Strategy`` ``decide`` runs for ``spec``: the same for the backtest and every live caller."""
    from betpipe.sports import sport_rules

    rules = sport_rules(spec.sport)
    return Strategy(
        name=name or spec.name,
        source=spec.source,
        policy=spec.policy(),
        book=spec.books[0],
        market=rules.prediction_market,
        outcomes=rules.outcomes,
        market_weight=spec.market_weight,
        book_max_stake={k: Decimal(v) for k, v in spec.book_max_stake.items()},
        line_markets=tuple(m for m in spec.markets if m in LINE_MARKETS),
        result_market=any(m not in LINE_MARKETS for m in spec.markets),
    )


@dataclass(frozen=True)
class Decision:
    """Candidates to hand to ``place_bets`` (in event-row order), the counted no-bet reasons, and the sizing."""

    candidates: list[BetCandidate]
    no_bet: dict[str, int] = field(default_factory=dict)
    sized: SizedEvents | None = None

    def quotes(self) -> dict[QuoteKey, Decimal]:
        """What a ``PaperBook`` should quote for each candidate: the price it was decided at."""
        return quotes_of(self.candidates)


def quotes_of(candidates: list[BetCandidate]) -> dict[QuoteKey, Decimal]:
    return {(c.event_id, c.market, c.selection, float(c.line)): c.price for c in candidates}


def _usable_rows(
    events: pl.DataFrame, now: datetime, max_price_age: timedelta | None, no_bet: dict[str, int]
) -> NDArray[np.bool_]:
    """Rows whose price was known at ``now``, is fresh enough and precedes kickoff; the rest counted by reason."""
    now_us = np.datetime64(as_utc_instant(now).replace(tzinfo=None), "us")
    priced_at = events.get_column(PRICE_TIME_COLUMN).dt.replace_time_zone(None).cast(pl.Datetime("us")).to_numpy()
    kickoff = events.get_column("kickoff_utc").dt.replace_time_zone(None).cast(pl.Datetime("us")).to_numpy()
    missing = np.isnat(priced_at)
    count_no_bet(no_bet, "no pre-match price captured before kickoff", int(missing.sum()))
    with np.errstate(invalid="ignore"):
        future = ~missing & (priced_at > now_us)
        started = ~missing & ~future & (kickoff <= now_us)
        late = ~missing & ~future & ~started & (priced_at >= kickoff)
    count_no_bet(no_bet, "price captured after the decision instant", int(future.sum()))
    count_no_bet(no_bet, "kicked off before the decision", int(started.sum()))
    count_no_bet(no_bet, "price captured at or after kickoff", int(late.sum()))
    ok = ~(missing | future | started | late)
    if max_price_age is not None:
        stale = ok & ((now_us - priced_at) > np.timedelta64(int(max_price_age.total_seconds() * 1e6), "us"))
        count_no_bet(no_bet, f"stale price: older than {max_price_age}", int(stale.sum()))
        ok &= ~stale
    return np.asarray(ok)


def decide(
    events: pl.DataFrame,
    *,
    strategy: Strategy,
    bankroll: Decimal,
    now: datetime,
    model_p: npt.ArrayLike | None = None,
    market_p: npt.ArrayLike | None = None,
    model_version: int | None = None,
    max_price_age: timedelta | None = None,
    lines: pl.DataFrame | None = None,
    grid: ScoreGrid | None = None,
) -> Decision:
    """Fair probabilities -> sizing -> one ``BetCandidate`` per staked selection, for the rows of ``events``.

    ``events`` has ``event_id``, ``competition``, ``kickoff_utc``, ``decided_at`` (the price capture instant, aware
    UTC) and ``book_<outcome>`` prices, with ``at_<outcome>`` naming each price's book when line shopping (else every
    price is ``strategy.book``'s); ``model_p``/``market_p`` are (n, k) in ``strategy.outcomes`` order, row for
    row (the strategy's ``source`` says which it needs). Sizing and its reasons are exactly ``size_events_explained``.
    A strategy with line markets also bets ``lines`` (``betting.markets.LINE_COLUMNS``: the best price per event,
    market, line and selection) priced from ``grid`` (one score grid per row of ``events``); the result market's
    candidates come first, then the lines'.
    """
    result = (
        _decide_result(events, strategy, bankroll, now, model_p, market_p, model_version, max_price_age)
        if strategy.result_market
        else Decision([], {}, None)
    )
    if not strategy.line_markets or lines is None or grid is None:
        return result
    more = decide_lines(
        lines, events, grid, strategy=strategy, bankroll=bankroll, now=now, model_version=model_version,
        max_price_age=max_price_age,
    )  # fmt: skip
    no_bet = dict(result.no_bet)
    for reason, n in more.no_bet.items():
        count_no_bet(no_bet, reason, n)
    candidates = [*result.candidates, *more.candidates]
    if strategy.policy.kind == "kelly":
        candidates = _sized_jointly(candidates, events, grid, strategy, bankroll, no_bet)
    return Decision(candidates, no_bet, result.sized)


def _capped_at_book(strategy: Strategy, book: str, stake: Decimal, no_bet: dict[str, int]) -> Decimal:
    """The stake cut to the book's maximum, if the strategy names one, counted so a report shows what was lost."""
    cap = strategy.book_max_stake.get(book)
    if cap is not None and stake > cap:
        count_no_bet(no_bet, f"stake cut to {book}'s maximum {cap}", 1)
        return cap
    return stake


def _sized_jointly(
    candidates: list[BetCandidate],
    events: pl.DataFrame,
    grid: ScoreGrid,
    strategy: Strategy,
    bankroll: Decimal,
    no_bet: dict[str, int],
) -> list[BetCandidate]:
    """An event's Kelly bets in several markets re-sized together from its one score grid (``joint_kelly``): one
    score settles them all, so their stakes are one position. Each is then the policy's fraction of its joint Kelly
    fraction, capped as alone (``max_fraction``, ``max_stake``, the book's cap); a bet left below the minimum stake
    is dropped and counted. Events with one bet keep their stake."""
    by_event: dict[int, list[int]] = {}
    for i, c in enumerate(candidates):
        by_event.setdefault(c.event_id, []).append(i)
    row_of = {int(e): i for i, e in enumerate(events.get_column("event_id").to_list())}
    policy, out = strategy.policy, list(candidates)
    dropped: set[int] = set()
    for event_id, idx in by_event.items():
        if len(idx) < 2 or event_id not in row_of:
            continue
        cell = grid.probabilities[row_of[event_id]].reshape(-1)
        if not np.isfinite(cell).all():
            continue
        bets = [(c.market, c.selection, float(c.line), float(c.price)) for c in (candidates[i] for i in idx)]
        fractions = joint_kelly(bet_payoffs(grid.max_goals, bets), cell) * float(policy.kelly_fraction)
        for i, f in zip(idx, np.minimum(fractions, float(policy.max_fraction)), strict=True):
            c = candidates[i]
            units = int(np.floor(f * float(bankroll / policy.stake_increment) * (1.0 + 1e-12)))
            stake = units * policy.stake_increment
            for cap in (policy.max_stake, strategy.book_max_stake.get(c.book)):
                if cap is not None and stake > cap:
                    stake = cap
            if stake <= 0 or stake < policy.min_stake:
                dropped.add(i)
                count_no_bet(no_bet, "joint sizing across markets: no stake left", 1)
            elif stake != c.stake:
                out[i] = replace(c, stake=stake)
                count_no_bet(no_bet, "joint sizing across markets: stake changed", 1)
    return [c for i, c in enumerate(out) if i not in dropped]


def _decide_result(
    events: pl.DataFrame,
    strategy: Strategy,
    bankroll: Decimal,
    now: datetime,
    model_p: npt.ArrayLike | None,
    market_p: npt.ArrayLike | None,
    model_version: int | None,
    max_price_age: timedelta | None,
) -> Decision:
    names = strategy.outcomes
    no_bet: dict[str, int] = {}
    if events.height == 0:
        return Decision([], no_bet, None)
    ok = _usable_rows(events, now, max_price_age, no_bet)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return Decision([], no_bet, None)
    model = None if model_p is None else np.asarray(model_p, dtype=np.float64)[rows]
    market = None if market_p is None else np.asarray(market_p, dtype=np.float64)[rows]
    fair = fair_probabilities(model, market, source=strategy.source, market_weight=strategy.market_weight)
    chosen = events[rows.tolist()]
    prices = chosen.select([pl.col(f"book_{n}") for n in names]).to_numpy().astype(np.float64)
    sized = size_events_explained(fair, prices, bankroll, strategy.policy)
    for code in np.unique(sized.reasons[sized.reasons > 0]):
        i, j = (int(x[0]) for x in np.nonzero(sized.reasons == code))
        count_no_bet(no_bet, f"sizing: {sized.reason(i, j)}", int((sized.reasons == code).sum()))
    stakes = sized.decimal_stakes()
    candidates: list[BetCandidate] = []
    for i, j in zip(*np.nonzero(sized.units > 0), strict=True):
        row: dict[str, Any] = chosen.row(int(i), named=True)
        book = str(row.get(f"{BOOK_OF}{names[j]}") or strategy.book)
        stake = _capped_at_book(strategy, book, stakes[i, j], no_bet)
        pick = (strategy.market, names[j], 0.0, float(prices[i, j]))
        candidates.append(
            _candidate(row, strategy, pick, sized.probabilities[i, j], sized.edges[i, j], stake, book, model_version)
        )
    return Decision(candidates, no_bet, sized)


def decide_lines(
    lines: pl.DataFrame,
    events: pl.DataFrame,
    grid: ScoreGrid,
    *,
    strategy: Strategy,
    bankroll: Decimal,
    now: datetime,
    model_version: int | None = None,
    max_price_age: timedelta | None = None,
) -> Decision:
    """The line-market half of ``decide``: each usable quoted line of the strategy's markets priced from its event's
    grid row (``events`` row i <-> ``grid`` row i), sized per selection, one bet per event and market.

    The same time rule as the result market (a line's own capture instant is its decision instant); a line of an
    event with no grid row, or whose grid could not be fitted, is counted, not guessed."""
    no_bet: dict[str, int] = {}
    frame = lines.filter(pl.col("market").is_in(list(strategy.line_markets)))
    if frame.height == 0:
        return Decision([], no_bet, None)
    row_of = {int(e): i for i, e in enumerate(events.get_column("event_id").to_list())}
    grid_row = np.array([row_of.get(int(e), -1) for e in frame.get_column("event_id").to_list()], dtype=np.int64)
    has_grid = grid_row >= 0
    count_no_bet(no_bet, "line: no score grid for the event", int((~has_grid).sum()))
    ok = np.zeros(frame.height, dtype=bool)
    if has_grid.any():
        ok[has_grid] = _usable_rows(frame.filter(pl.Series(has_grid)), now, max_price_age, no_bet)
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return Decision([], no_bet, None)
    chosen = frame[rows.tolist()]
    at = grid_row[rows]
    n = rows.size
    won, half_won, void, half_lost, lost = (np.full(n, np.nan) for _ in range(5))
    market = chosen.get_column("market").to_numpy()
    selection = chosen.get_column("selection").to_numpy()
    line = chosen.get_column("line").to_numpy().astype(np.float64)
    for m, sel in {(str(a), str(b)) for a, b in zip(market, selection, strict=True)}:
        idx = np.flatnonzero((market == m) & (selection == sel))
        lp = line_probabilities(grid[at[idx]], m, sel, line[idx])
        won[idx], half_won[idx], void[idx], half_lost[idx], lost[idx] = (
            lp.won, lp.half_won, lp.void, lp.half_lost, lp.lost
        )  # fmt: skip
    probs = LineProbabilities(won, half_won, void, half_lost, lost)
    prices = chosen.get_column("price").to_numpy().astype(np.float64)
    code = {m: i for i, m in enumerate(LINE_MARKETS)}
    keys = chosen.get_column("event_id").to_numpy() * len(code) + np.array([code[str(m)] for m in market])
    sized = size_lines(probs, prices, keys, bankroll, strategy.policy)
    for code in np.unique(sized.reasons[sized.reasons > 0]):
        why = NoBetReason.from_code(int(code))
        count_no_bet(no_bet, f"line sizing: {why}", int((sized.reasons == code).sum()))
    stakes = sized.decimal_stakes()
    candidates: list[BetCandidate] = []
    for i in np.flatnonzero(sized.units > 0):
        row: dict[str, Any] = chosen.row(int(i), named=True)
        book = str(row["book"] or strategy.book)
        stake = _capped_at_book(strategy, book, stakes[i], no_bet)
        pick = (str(row["market"]), str(row["selection"]), float(row["line"]), row["price"])
        candidates.append(
            _candidate(row, strategy, pick, sized.probabilities[i], sized.edges[i], stake, book, model_version)
        )
    return Decision(candidates, no_bet, None)


def _candidate(
    row: dict[str, Any],
    strategy: Strategy,
    pick: tuple[str, str, float, object],
    probability: float,
    edge: float,
    stake: Decimal,
    book: str,
    model_version: int | None,
) -> BetCandidate:
    """One candidate from a decided row; ``pick`` is (market, selection, line, price), the only fields in which a
    1X2 selection and a line bet differ. The price is taken through ``str`` so a float quote keeps its printed
    digits rather than its binary expansion."""
    market, selection, line, price = pick
    decided_at = as_utc(row[PRICE_TIME_COLUMN])
    return BetCandidate(
        event_id=int(row["event_id"]),
        market=market,
        selection=selection,
        line=line,
        price=Decimal(str(price)),
        probability=float(probability),
        stake=stake,
        book=book,
        strategy=strategy.name,
        model_version=model_version,
        decision_time=decided_at,
        competition=str(row["competition"]),
        kickoff=as_utc(row["kickoff_utc"]),
        edge=float(edge),
        price_time=decided_at,
    )
