"""What one backtest run is: a frozen, JSON-round-trippable description (competitions, seasons, book, strategy,
staking, refits, seed), so a run can be shipped to a Dask worker as text and named by a content hash.

Validation only; this module never reads data or runs anything. A run's id is a hash of its JSON, so the same spec
always writes the same ledger account and the same output file, whichever process runs it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from betpipe.betting.policy import StakingPolicy

__all__ = ["CONSENSUS_BOOKS", "MARKET_METHODS", "MODELS", "STRATEGIES", "UNCAPPED_LIMITS", "BacktestSpec", "Strategy"]

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

Strategy = Literal["model", "market", "blend"]
STRATEGIES: tuple[str, ...] = ("model", "market", "blend")
# Models the walk-forward refits (names of ``betpipe.modeling.default_specs``); none of them needs market features,
# which the backtest deliberately does not hand to a model (its market leg is the sharp book's own price).
MODELS: tuple[str, ...] = ("elo_logit", "elo_features", "gbm", "dixon_coles", "base_rates")
MARKET_METHODS: tuple[str, ...] = ("multiplicative", "shin", "power", "odds_ratio")
CONSENSUS_BOOKS: tuple[str, ...] = ("market_avg", "betbrain_avg")
"""Market-average aggregates (football-data ``Avg*`` from 2019-20, ``BbAv*`` before): inputs only, never a price."""


@dataclass(frozen=True)
class BacktestSpec:
    """One independent run. ``market_weight`` is the weight on the market in the blend (1 = the market alone).

    The market's fair probability is the sharp book's pre-match price de-margined by ``market_method``, pooled
    log-linearly with the margin-free consensus (``consensus_books``, the first present wins) at weight
    ``consensus_weight`` (0: the sharp book alone). Bets are still placed only at ``book``'s price.

    ``evaluation_rows`` keeps only events that have a sharp closing price (EVALUATION.md's rows, so CLV exists for
    every bet); it selects rows by data availability, never by an outcome.
    """

    competitions: tuple[str, ...]
    first_season: str
    last_season: str
    sport: str = "soccer"
    book: str = "bet365"
    sharp_book: str = "pinnacle"
    strategy: Strategy = "blend"
    model: str = "elo_logit"
    staking: str = "kelly:0.25"
    min_edge: float = 0.02
    market_weight: float = 0.5
    market_method: str = "multiplicative"
    consensus_weight: float = 0.0
    consensus_books: tuple[str, ...] = CONSENSUS_BOOKS
    refit_days: float = 30.0
    max_price_age_hours: float = 96.0
    seed: int = 0
    bankroll: Decimal = Decimal("1000.00")
    evaluation_rows: bool = True
    limits: dict[str, str] = field(default_factory=dict)  # RiskLimits field -> value (text), over the defaults
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "competitions", tuple(self.competitions))
        object.__setattr__(self, "consensus_books", tuple(self.consensus_books))
        object.__setattr__(self, "bankroll", Decimal(str(self.bankroll)))
        if not self.competitions:
            raise ValueError("a backtest needs at least one competition")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.strategy != "market" and self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.first_season > self.last_season:
            raise ValueError(f"first season {self.first_season} is after the last {self.last_season}")
        if not 0.0 <= self.market_weight <= 1.0:
            raise ValueError(f"market weight must be in [0, 1]; got {self.market_weight}")
        if self.market_method not in MARKET_METHODS:
            raise ValueError(f"unknown market method {self.market_method!r}; choose one of {', '.join(MARKET_METHODS)}")
        if not 0.0 <= self.consensus_weight <= 1.0:
            raise ValueError(f"consensus weight must be in [0, 1]; got {self.consensus_weight}")
        if self.consensus_weight > 0 and not self.consensus_books:
            raise ValueError("a consensus weight > 0 needs at least one consensus book")
        if not 0 < self.refit_days <= MAX_REFIT_DAYS:  # also refuses inf and nan, which no timedelta can hold
            raise ValueError(f"refit_days must be in (0, {MAX_REFIT_DAYS:g}]; got {self.refit_days}")
        if not math.isfinite(self.min_edge):
            raise ValueError(f"min_edge must be a finite number; got {self.min_edge}")
        if self.bankroll <= 0:
            raise ValueError(f"bankroll must be > 0; got {self.bankroll}")
        self.policy()  # a bad staking text fails here, before any work

    def policy(self) -> StakingPolicy:
        return StakingPolicy.parse(self.staking, min_edge=self.min_edge)

    @property
    def name(self) -> str:
        """A readable strategy name for tables and the ledger's ``strategy`` column."""
        if self.label:
            return self.label
        head = "market" if self.strategy == "market" else f"{self.strategy}:{self.model}"
        if self.strategy == "blend":
            head += f"@{self.market_weight:g}"
        if self.strategy != "model" and self.market_method != "multiplicative":
            head += f":{self.market_method}"
        if self.strategy != "model" and self.consensus_weight > 0:
            head += f"+consensus@{self.consensus_weight:g}"
        return f"{head}|{self.book}|{self.staking}|t={self.min_edge:g}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["competitions"] = list(self.competitions)
        data["consensus_books"] = list(self.consensus_books)
        data["bankroll"] = str(self.bankroll)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BacktestSpec:
        values: dict[str, Any] = {**data, "bankroll": Decimal(data["bankroll"])}
        for key in ("competitions", "consensus_books"):
            if key in data:
                values[key] = tuple(data[key])
        return cls(**values)

    @property
    def run_id(self) -> str:
        data = self.to_json()
        if self.consensus_weight == 0 and self.market_method == "multiplicative":  # runs from before these options
            for key in ("market_method", "consensus_weight", "consensus_books"):
                data.pop(key)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def split(self) -> list[BacktestSpec]:
        """One run per competition: independent bankrolls and ledgers, so they can run anywhere in parallel."""
        return [replace(self, competitions=(c,)) for c in self.competitions]
