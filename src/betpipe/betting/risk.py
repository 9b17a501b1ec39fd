"""Risk controls, one class per limit (flumine's trading-control style), run on an account's running exposure.

Each control's ``_validate`` looks at one candidate against the exposure as it stands *including the bets already
accepted earlier in the same call*, and reports a breach through the single ``_violation`` path. The ledger runs
them inside the database transaction that holds the account's risk lock, so concurrent placers cannot both see room
that only one of them may use. This module never touches a database, a clock or a book: it is pure arithmetic on
Decimal amounts, which is what lets the backtest and the live pipeline share it unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Protocol

from betpipe.sports import UnknownMarketError, market_rules

if TYPE_CHECKING:
    from betpipe.config import Settings

__all__ = [
    "CONTROLS",
    "ExposureState",
    "RiskControl",
    "RiskLimits",
    "RiskViolation",
    "first_violation",
]


@dataclass(frozen=True)
class RiskLimits:
    """Hard limits of one account, in the account currency. ``from_settings`` reads them from configuration."""

    starting_bankroll: Decimal = Decimal("1000.00")
    max_stake: Decimal = Decimal("50.00")
    max_open_exposure: Decimal = Decimal("200.00")
    max_event_exposure: Decimal = Decimal("40.00")
    max_competition_exposure: Decimal = Decimal("100.00")
    daily_loss_limit: Decimal = Decimal("50.00")
    max_bets_per_day: int = 50
    max_bets_per_event: int = 1
    bankroll_floor: Decimal = Decimal("500.00")
    max_price_age_seconds: float = 6 * 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RiskLimits:
        """Bankroll-wide amounts come from ``[bankroll]``, the rest from ``[risk]``."""
        bankroll, risk = settings.bankroll, settings.risk
        return cls(
            starting_bankroll=bankroll.bankroll,
            max_stake=risk.max_stake,
            max_open_exposure=bankroll.max_open_exposure,
            max_event_exposure=bankroll.max_event_exposure,
            max_competition_exposure=risk.max_competition_exposure,
            daily_loss_limit=bankroll.daily_loss_limit,
            max_bets_per_day=risk.max_bets_per_day,
            max_bets_per_event=risk.max_bets_per_event,
            bankroll_floor=risk.bankroll_floor,
            max_price_age_seconds=risk.max_price_age_seconds,
        )


@dataclass
class ExposureState:
    """An account's position when the lock was taken, updated in place as each candidate is accepted.

    ``settled_pnl`` is all P&L ever settled; ``loss_today`` the net loss of bets settled on the clock's current UTC
    day (the daily loss limit counts by settlement date); ``bets_today`` the bets placed that day.
    """

    halted: bool = False
    halted_reason: str | None = None
    settled_pnl: Decimal = Decimal(0)
    loss_today: Decimal = Decimal(0)
    bets_today: int = 0
    open_exposure: Decimal = Decimal(0)
    event_exposure: dict[int, Decimal] = field(default_factory=dict)
    event_bets: Counter[int] = field(default_factory=Counter)
    competition_exposure: dict[str, Decimal] = field(default_factory=dict)

    def bankroll(self, limits: RiskLimits) -> Decimal:
        return limits.starting_bankroll + self.settled_pnl

    def add(self, event_id: int, competition: str, stake: Decimal) -> None:
        """Book an accepted bet into the running state, so the next candidate of the same call sees it."""
        self.open_exposure += stake
        self.event_exposure[event_id] = self.event_exposure.get(event_id, Decimal(0)) + stake
        self.event_bets[event_id] += 1
        self.competition_exposure[competition] = self.competition_exposure.get(competition, Decimal(0)) + stake
        self.bets_today += 1


class Candidate(Protocol):
    """What a control needs to know of a bet (``BetCandidate`` satisfies it)."""

    @property
    def event_id(self) -> int: ...
    @property
    def competition(self) -> str: ...
    @property
    def stake(self) -> Decimal: ...


@dataclass(frozen=True)
class RiskViolation:
    control: str
    reason: str


class RiskControl:
    """One limit. Subclasses implement ``_validate`` and call ``_violation`` on a breach, never anything else."""

    NAME: ClassVar[str] = "control"

    def __call__(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        return self._validate(candidate, state, limits)

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        raise NotImplementedError

    def _violation(self, reason: str) -> RiskViolation:
        return RiskViolation(self.NAME, f"{self.NAME}: {reason}")


class HaltControl(RiskControl):
    """The kill switch: a halted account places nothing, whatever the other limits say."""

    NAME = "halt"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        if state.halted:
            return self._violation(f"account is halted ({state.halted_reason or 'no reason given'})")
        return None


class DailyLossControl(RiskControl):
    """No new bet once today's settled losses reach the limit (settlement date, the clock's UTC day)."""

    NAME = "daily_loss"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        if state.loss_today >= limits.daily_loss_limit:
            return self._violation(f"loss today {state.loss_today} has reached the limit {limits.daily_loss_limit}")
        return None


class StakeControl(RiskControl):
    NAME = "single_stake"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        if candidate.stake > limits.max_stake:
            return self._violation(f"stake {candidate.stake} above the limit {limits.max_stake}")
        return None


class OpenExposureControl(RiskControl):
    NAME = "open_exposure"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        after = state.open_exposure + candidate.stake
        if after > limits.max_open_exposure:
            return self._violation(f"open exposure would be {after}, limit {limits.max_open_exposure}")
        return None


class EventControl(RiskControl):
    """Bets per event and stake per event: correlated selections of one game are one risk."""

    NAME = "event"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        count = state.event_bets[candidate.event_id]
        if count >= limits.max_bets_per_event:
            return self._violation(
                f"event {candidate.event_id} already has {count} bet(s), limit {limits.max_bets_per_event}"
            )
        after = state.event_exposure.get(candidate.event_id, Decimal(0)) + candidate.stake
        if after > limits.max_event_exposure:
            return self._violation(
                f"exposure on event {candidate.event_id} would be {after}, limit {limits.max_event_exposure}"
            )
        return None


class BetsPerDayControl(RiskControl):
    NAME = "bets_per_day"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        if state.bets_today >= limits.max_bets_per_day:
            return self._violation(f"{state.bets_today} bets placed today, limit {limits.max_bets_per_day}")
        return None


class CompetitionExposureControl(RiskControl):
    NAME = "competition_exposure"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        after = state.competition_exposure.get(candidate.competition, Decimal(0)) + candidate.stake
        if after > limits.max_competition_exposure:
            return self._violation(
                f"exposure on {candidate.competition} would be {after}, limit {limits.max_competition_exposure}"
            )
        return None


class BankrollFloorControl(RiskControl):
    """Even if every open bet and this one lose, the bankroll stays at or above the floor."""

    NAME = "bankroll_floor"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        worst = state.bankroll(limits) - state.open_exposure - candidate.stake
        if worst < limits.bankroll_floor:
            return self._violation(f"worst-case bankroll {worst} below the floor {limits.bankroll_floor}")
        return None


CONTROLS: tuple[RiskControl, ...] = (
    HaltControl(),
    DailyLossControl(),
    StakeControl(),
    OpenExposureControl(),
    EventControl(),
    BetsPerDayControl(),
    CompetitionExposureControl(),
    BankrollFloorControl(),
)


def first_violation(
    candidate: Candidate,
    state: ExposureState,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> RiskViolation | None:
    """The first control (in order) the candidate breaches, or None when every one lets it through."""
    for control in controls:
        violation = control(candidate, state, limits)
        if violation is not None:
            return violation
    return None


def check_market(market: str, selection: str, line: float) -> str | None:
    """Why a selection cannot be settled later (unknown market, selection or a line off the quarter grid)."""
    try:
        rules = market_rules(market)
    except UnknownMarketError as error:
        return str(error)
    if selection not in rules.selections:
        return f"selection {selection!r} is not one of {market}'s {rules.selections}"
    if not rules.has_line and line != 0:
        return f"market {market} has no line, got {line}"
    if abs(line * 4 - round(line * 4)) > 1e-9:
        return f"line {line} is not a multiple of 0.25"
    return None
