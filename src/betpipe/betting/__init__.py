"""Betting: turn fair probabilities into disciplined stakes, then (below) risk checks, books and the ledger.

The public surface of the money path; import from here, not from the modules. Nothing in this package reads the
wall clock: callers pass a ``betpipe.clock.Clock``.
"""

from betpipe.betting.accounts import AccountStatus, NotHaltedError, account_status, halt_account, resume_account
from betpipe.betting.books import Book, BookOrder, BookReply, OrderStatus, PaperBook
from betpipe.betting.ledger import (
    DEFAULT_ACCOUNT,
    BetCandidate,
    BetNotFoundError,
    BetRecord,
    PlacementResult,
    get_bet,
    list_bets,
    place_bets,
)
from betpipe.betting.policy import StakingPolicy
from betpipe.betting.pricing import (
    PROBABILITY_SUM_TOLERANCE,
    FairSource,
    edge,
    fair_probabilities,
    is_distribution,
    shrink_toward_market,
)
from betpipe.betting.risk import RiskLimits
from betpipe.betting.settlement import (
    EventResult,
    SettlementReport,
    closing_line_value,
    load_settlement_inputs,
    settle_bets,
)
from betpipe.betting.sizing import (
    EventSizing,
    NoBetReason,
    SizedEvents,
    bet_fractions,
    kelly_fraction,
    simultaneous_kelly,
    size_event,
    size_event_explained,
    size_events,
    size_events_explained,
)

__all__ = [
    "PROBABILITY_SUM_TOLERANCE",
    "EventSizing",
    "FairSource",
    "NoBetReason",
    "SizedEvents",
    "StakingPolicy",
    "bet_fractions",
    "edge",
    "fair_probabilities",
    "is_distribution",
    "kelly_fraction",
    "shrink_toward_market",
    "simultaneous_kelly",
    "size_event",
    "size_event_explained",
    "size_events",
    "size_events_explained",
]

# Risk, books and the ledger (the second half of the money path).
__all__ += [
    "DEFAULT_ACCOUNT",
    "AccountStatus",
    "BetCandidate",
    "BetNotFoundError",
    "BetRecord",
    "Book",
    "BookOrder",
    "BookReply",
    "EventResult",
    "NotHaltedError",
    "OrderStatus",
    "PaperBook",
    "PlacementResult",
    "RiskLimits",
    "SettlementReport",
    "account_status",
    "closing_line_value",
    "get_bet",
    "halt_account",
    "list_bets",
    "load_settlement_inputs",
    "place_bets",
    "resume_account",
    "settle_bets",
]
