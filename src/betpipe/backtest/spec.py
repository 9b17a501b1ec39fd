"""What one backtest run is: a strategy (``betting.strategy_spec.StrategySpec``, the very object the live run loads)
plus the data span (competitions, seasons) and run options (refits, seed, bankroll, rows), frozen and
JSON-round-trippable, so a run can be shipped to a Dask worker as text and named by a content hash.

Validation only; this module never reads data or runs anything. A run's id is a hash of its JSON, so the same spec
always writes the same ledger account and the same output file, whichever process runs it. Every strategy field
here is a ``StrategySpec`` field of the same name (``strategy`` is its ``source``; ``book`` is shorthand for
``books=(book,)``): the backtest has no strategy field the live run lacks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from betpipe.betting.policy import StakingPolicy
from betpipe.betting.strategy_spec import (
    CONSENSUS_BOOKS,
    DEFAULT_STRATEGY,
    MARKET_METHODS,
    SOFT_BOOKS,
    SOURCES,
    Source,
    StrategySpec,
)

__all__ = [
    "CONSENSUS_BOOKS",
    "MARKET_METHODS",
    "MODELS",
    "SOFT_BOOKS",
    "STRATEGIES",
    "UNCAPPED_LIMITS",
    "BacktestSpec",
    "Strategy",
]

UNCAPPED_LIMITS: dict[str, str] = {
    "max_bets_per_event": "3",
    "max_bets_per_day": "100000",
    "max_open_exposure": "1000000",
    "max_event_exposure": "1000000",
    "max_competition_exposure": "1000000",
    "daily_loss_limit": "1000000",
    "bankroll_floor": "-1000000",
    "max_stake": "1000000",
}
"""Risk limits lifted (``BacktestSpec.limits``) for EVALUATION.md's flat-stake protocol: every selection with an edge
is bet, so a bet never depends on what other events did to the bankroll or the limits."""

MAX_REFIT_DAYS = 36_600.0
"""A century: refitting less often than that is refitting once, and a longer interval overflows a date."""

Strategy = Source
STRATEGIES: tuple[str, ...] = SOURCES
# Models the walk-forward refits (names of ``betpipe.modeling.default_specs``); none of them needs market features,
# which the backtest deliberately does not hand to a model (its market leg is the sharp book's own price). The one
# exception, ``close_model`` (the model of the close), reads its own decision-time prices (``backtest.close_source``).
MODELS: tuple[str, ...] = ("elo_logit", "elo_features", "gbm", "dixon_coles", "base_rates", "close_model")
_STRATEGY_FIELDS = {f.name for f in fields(StrategySpec)} - {"source", "label"}
_D = DEFAULT_STRATEGY


@dataclass(frozen=True)
class BacktestSpec:
    """One independent run: one account with one bankroll over every competition of the span (as live).

    The strategy fields mean what ``StrategySpec``'s do; the defaults are ``DEFAULT_STRATEGY`` (the live default).
    ``evaluation_rows`` keeps only events that have a sharp closing price (EVALUATION.md's rows, so CLV exists for
    every bet); it selects rows by data availability, never by an outcome.
    """

    competitions: tuple[str, ...]
    first_season: str
    last_season: str
    sport: str = _D.sport
    book: str = ""  # shorthand for books=(book,)
    books: tuple[str, ...] = _D.books
    sharp_book: str = _D.sharp_book
    strategy: Strategy = _D.source
    model: str = _D.model
    staking: str = _D.staking
    min_edge: float = _D.min_edge
    market_weight: float = _D.market_weight
    market_method: str = _D.market_method
    consensus_weight: float = _D.consensus_weight
    consensus_books: tuple[str, ...] = _D.consensus_books
    refit_days: float = 30.0
    max_price_age_hours: float = _D.max_price_age_hours
    seed: int = 0
    bankroll: Decimal = Decimal("1000.00")
    evaluation_rows: bool = True
    limits: dict[str, str] = field(default_factory=dict)  # RiskLimits field -> value (text), over the defaults
    book_max_stake: dict[str, str] = field(default_factory=dict)
    label: str = ""
    markets: tuple[str, ...] = _D.markets

    def __post_init__(self) -> None:
        object.__setattr__(self, "competitions", tuple(self.competitions))
        if self.book:
            object.__setattr__(self, "books", (self.book,))
            object.__setattr__(self, "book", "")
        object.__setattr__(self, "bankroll", Decimal(str(self.bankroll)))
        if not self.competitions:
            raise ValueError("a backtest needs at least one competition")
        if self.strategy != "market" and self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.first_season > self.last_season:
            raise ValueError(f"first season {self.first_season} is after the last {self.last_season}")
        if not 0 < self.refit_days <= MAX_REFIT_DAYS:  # also refuses inf and nan, which no timedelta can hold
            raise ValueError(f"refit_days must be in (0, {MAX_REFIT_DAYS:g}]; got {self.refit_days}")
        if self.bankroll <= 0:
            raise ValueError(f"bankroll must be > 0; got {self.bankroll}")
        spec = self.strategy_spec()  # every strategy rule is checked once, where the live run checks it
        object.__setattr__(self, "books", spec.books)
        object.__setattr__(self, "consensus_books", spec.consensus_books)
        object.__setattr__(self, "limits", spec.limits)
        object.__setattr__(self, "book_max_stake", spec.book_max_stake)
        object.__setattr__(self, "markets", spec.markets)

    def strategy_spec(self) -> StrategySpec:
        """The strategy this run backtests: what ``betpipe strategy promote`` makes live."""
        values = {name: getattr(self, name) for name in _STRATEGY_FIELDS}
        return StrategySpec(source=self.strategy, label=self.label, **values)

    @classmethod
    def of(
        cls, strategy: StrategySpec, competitions: tuple[str, ...], first_season: str, last_season: str, **run: Any
    ) -> BacktestSpec:
        """A run of ``strategy`` over a data span, with run options (refit_days, seed, bankroll, ...)."""
        values = {name: getattr(strategy, name) for name in _STRATEGY_FIELDS}
        return cls(
            competitions=tuple(competitions), first_season=first_season, last_season=last_season,
            strategy=strategy.source, label=strategy.label, **values, **run,
        )  # fmt: skip

    @property
    def book_label(self) -> str:
        return "+".join(self.books)

    def policy(self) -> StakingPolicy:
        return self.strategy_spec().policy()

    @property
    def name(self) -> str:
        """A readable strategy name for tables and the ledger's ``strategy`` column."""
        return self.strategy_spec().name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("book")
        data["competitions"] = list(self.competitions)
        data["books"] = list(self.books)
        data["consensus_books"] = list(self.consensus_books)
        data["bankroll"] = str(self.bankroll)
        data["markets"] = list(self.markets)
        if self.markets == _D.markets:
            data.pop("markets")  # the default, unlisted: run ids from before markets were listed stay the same
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BacktestSpec:
        values: dict[str, Any] = {**data, "bankroll": Decimal(data["bankroll"])}
        for key in ("competitions", "consensus_books", "books", "markets"):
            if key in data:
                values[key] = tuple(data[key])
        return cls(**values)

    @property
    def run_id(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
