"""The one strategy object the backtest, the live run, the scheduler's betting job, /opportunities and POST /bets all
load: where the fair price comes from (market leg, model and weight), which books it may bet at (line shopping),
the markets, staking, minimum edge, limit overrides and price age.

Frozen and JSON-round-trippable, named by a content hash (``version``), so a strategy stored with its backtest
lineage is exactly the one that runs live after ``betpipe strategy promote``. Validation only: nothing here reads
data. Must never accept an aggregate (max/average/consensus) book as a book to bet at.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from betpipe.betting.policy import StakingPolicy
from betpipe.ingest.bookmakers import is_aggregate

__all__ = [
    "CONSENSUS_BOOKS",
    "DEFAULT_MARKETS",
    "DEFAULT_STRATEGY",
    "MARKET_METHODS",
    "RESTRICTION_LIMITS",
    "SOFT_BOOKS",
    "SOURCES",
    "Source",
    "StrategySpec",
]

Source = Literal["model", "market", "blend"]
SOURCES: tuple[str, ...] = ("model", "market", "blend")
MARKET_METHODS: tuple[str, ...] = ("multiplicative", "shin", "power", "odds_ratio")
CONSENSUS_BOOKS: tuple[str, ...] = ("market_avg", "betbrain_avg")
"""Market-average aggregates (football-data ``Avg*`` from 2019-20, ``BbAv*`` before): inputs only, never a price."""
DEFAULT_MARKETS: tuple[str, ...] = ("1x2",)
"""The markets a strategy bets unless it lists others: the sport's result market (1X2; moneyline for NFL). Left out
of the hashed form when unchanged, so strategies stored before markets were listed keep their versions."""
SOFT_BOOKS: tuple[str, ...] = ("bet365", "betandwin", "interwetten", "williamhill", "vcbet")
RESTRICTION_LIMITS: tuple[str, ...] = ("restrict_after_clv_wins", "restricted_max_stake", "restricted_stake_fraction")
"""The ``limits`` keys of account restriction (``betting.restriction``): after N bets a book lost to us by CLV, its
maximum stake falls to an amount and/or a fraction of the stake asked. Limits, so the live run and the backtest read
them where they read every other limit; unset, they leave a strategy's name and version as they were."""
"""The five soft books football-data carries (B365, BW, IW, WH, VC): EVALUATION.md's line-shopping reference."""


def _restriction(limits: dict[str, str]) -> tuple[int, Decimal, Decimal]:
    """(after, max stake, fraction) from a strategy's ``limits``; a bad value is a one-line error."""
    text = {key: limits.get(key, "0") for key in RESTRICTION_LIMITS}
    try:
        after = int(text["restrict_after_clv_wins"])
        amount, fraction = Decimal(text["restricted_max_stake"]), Decimal(text["restricted_stake_fraction"])
    except (ValueError, InvalidOperation):
        raise ValueError(f"account restriction limits must be numbers; got {text}") from None
    if after < 0 or not (amount.is_finite() and amount >= 0) or not (fraction.is_finite() and 0 <= fraction <= 1):
        raise ValueError(f"restrict_after_clv_wins >= 0, restricted_max_stake >= 0 and fraction in [0, 1]; got {text}")
    if after > 0 and amount == 0 and fraction == 0:
        raise ValueError("restrict_after_clv_wins needs restricted_max_stake or restricted_stake_fraction above 0")
    return after, amount, fraction


def _check_markets(markets: tuple[str, ...], sport: str) -> None:
    """Markets a strategy may list: the sport's, each once; lines only where ``decide`` prices them (a score grid)."""
    from betpipe.betting.markets import LINE_MARKETS, RESULT_MARKETS
    from betpipe.sports import sport_rules

    if not markets or len(set(markets)) != len(markets):
        raise ValueError(f"a strategy lists each market it bets once, at least one; got {', '.join(markets) or 'none'}")
    if markets == DEFAULT_MARKETS:
        return
    known = set(sport_rules(sport).markets) & {*LINE_MARKETS, *RESULT_MARKETS}
    unknown = [m for m in markets if m not in known]
    if unknown:
        raise ValueError(
            f"market(s) {', '.join(unknown)} not bettable for {sport}; choose from {', '.join(sorted(known))}"
        )


def _decimal_text(value: object, name: str) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a decimal amount; got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{name} must be a finite amount > 0; got {value!r}")
    return str(amount)


@dataclass(frozen=True)
class StrategySpec:
    """How to bet, wherever it runs. ``source``: ``market`` (the sharp book alone), ``model`` or ``blend`` (log-linear
    pool with weight ``market_weight`` on the market). The market leg de-margins ``sharp_book``'s pre-match price by
    ``market_method``, pooled with the consensus books at ``consensus_weight`` (0: none). ``books`` are the books it
    holds accounts at: each selection is taken at the best usable price among them. ``book_max_stake`` caps the
    stake per book (text amounts); ``limits`` override ``RiskLimits`` fields (text). ``max_price_age_hours``: a price
    (or sharp input) older than this at the decision instant is stale. ``model`` names what the backtest refits;
    live, the sport's champion plays that part.
    """

    source: Source = "market"
    books: tuple[str, ...] = SOFT_BOOKS
    sharp_book: str = "pinnacle"
    market_method: str = "multiplicative"
    consensus_weight: float = 0.0
    consensus_books: tuple[str, ...] = CONSENSUS_BOOKS
    model: str = "elo_logit"
    market_weight: float = 0.5
    sport: str = "soccer"
    staking: str = "kelly:0.25"
    min_edge: float = 0.02
    max_price_age_hours: float = 96.0
    limits: dict[str, str] = field(default_factory=dict)
    book_max_stake: dict[str, str] = field(default_factory=dict)
    label: str = ""
    markets: tuple[str, ...] = DEFAULT_MARKETS

    def __post_init__(self) -> None:
        books = (self.books,) if isinstance(self.books, str) else tuple(self.books)
        object.__setattr__(self, "books", books)
        object.__setattr__(self, "consensus_books", tuple(self.consensus_books))
        markets = (self.markets,) if isinstance(self.markets, str) else tuple(self.markets)
        object.__setattr__(self, "markets", markets)
        _check_markets(markets, self.sport)
        object.__setattr__(self, "limits", {str(k): str(v) for k, v in dict(self.limits).items()})
        caps = {str(k): _decimal_text(v, f"max stake at {k}") for k, v in dict(self.book_max_stake).items()}
        object.__setattr__(self, "book_max_stake", caps)
        if self.source not in SOURCES:
            raise ValueError(f"unknown strategy source {self.source!r}; choose one of {', '.join(SOURCES)}")
        if not books or any(not b for b in books):
            raise ValueError("a strategy needs at least one book to bet at")
        if len(set(books)) != len(books):
            raise ValueError(f"a book is named twice in {', '.join(books)}")
        for book in books:
            if is_aggregate(book) or book in self.consensus_books:
                raise ValueError(f"{book!r} is an aggregate (max/average/consensus), not a price anyone can take")
        if self.sharp_book in books:
            raise ValueError(f"the sharp book {self.sharp_book!r} is the fair price, not a book to bet at")
        unknown = sorted(set(caps) - set(books))
        if unknown:
            raise ValueError(f"book_max_stake names book(s) the strategy does not bet at: {', '.join(unknown)}")
        if self.market_method not in MARKET_METHODS:
            raise ValueError(f"unknown market method {self.market_method!r}; choose one of {', '.join(MARKET_METHODS)}")
        for name in ("market_weight", "consensus_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name.replace('_', ' ')} must be in [0, 1]; got {value}")
        if self.consensus_weight > 0 and not self.consensus_books:
            raise ValueError("a consensus weight > 0 needs at least one consensus book")
        if not math.isfinite(self.min_edge):
            raise ValueError(f"min_edge must be a finite number; got {self.min_edge}")
        if not (math.isfinite(self.max_price_age_hours) and self.max_price_age_hours > 0):
            raise ValueError(f"max_price_age_hours must be a finite number > 0; got {self.max_price_age_hours}")
        self.policy()  # a bad staking text fails here, before any work
        _restriction(self.limits)

    def policy(self) -> StakingPolicy:
        """The staking policy, exactly as the text states it (backtest and live alike)."""
        return StakingPolicy.parse(self.staking, min_edge=self.min_edge)

    @property
    def restriction(self) -> tuple[int, Decimal, Decimal]:
        """Account restriction from ``limits``: (CLV wins before a book restricts, max stake, fraction); 0 = off."""
        return _restriction(self.limits)

    @property
    def uses_consensus(self) -> bool:
        return self.source != "model" and self.consensus_weight > 0

    @property
    def name(self) -> str:
        """A readable name for tables and the ledger's ``strategy`` column (the label when one is given)."""
        if self.label:
            return self.label
        head = "market" if self.source == "market" else f"{self.source}:{self.model}"
        if self.source == "blend":
            head += f"@{self.market_weight:g}"
        if self.source != "model" and self.market_method != "multiplicative":
            head += f":{self.market_method}"
        if self.uses_consensus:
            head += f"+consensus@{self.consensus_weight:g}"
        name = f"{head}|{'+'.join(self.books)}|{self.staking}|t={self.min_edge:g}"
        after, amount, fraction = self.restriction
        if after:
            caps = [f"{amount:f}"] * (amount > 0) + [f"x{fraction:f}"] * (fraction > 0)
            name += f"|restricted@{after}:{'/'.join(caps)}"
        if self.markets != DEFAULT_MARKETS:
            name += f"|markets={'+'.join(self.markets)}"
        return name

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["books"] = list(self.books)
        data["consensus_books"] = list(self.consensus_books)
        data["markets"] = list(self.markets)
        if self.markets == DEFAULT_MARKETS:
            data.pop("markets")  # unlisted = the default: versions of strategies from before markets stay the same
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StrategySpec:
        if not isinstance(data, dict):
            raise ValueError(f"a strategy is a JSON object; got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown strategy field(s): {', '.join(unknown)}")
        values = dict(data)
        for key in ("books", "consensus_books", "markets"):
            if key in values and not isinstance(values[key], str):
                values[key] = tuple(values[key])
        return cls(**values)

    @property
    def version(self) -> str:
        """Content hash of the JSON (the label excluded: renaming a strategy does not make it another one)."""
        data = self.to_json()
        data.pop("label")
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


DEFAULT_STRATEGY = StrategySpec()
"""The default of both the live run and ``betpipe backtest``: Pinnacle-fair (multiplicative) pre-match value at the
best of the five soft books (EVALUATION.md's line-shopping reference), min edge 0.02, quarter Kelly."""
