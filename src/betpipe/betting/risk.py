"""Risk controls, one class per limit (flumine's trading-control style), run on an account's running exposure.

Each control looks at one candidate against the exposure as it stands *including the bets already accepted earlier
in the same call*. A control about size (a stake, an exposure, a loss or the floor) has a ``headroom``: a stake above
it is cut to fit (a bettor asks for "as much as the limit allows", not "all or nothing"), and only a cut that leaves
less than the minimum stake is a rejection. A control that is not about size (the halt, bets per day, bets per event)
reports a breach through the single ``_violation`` path. The ledger runs them inside the database transaction that
holds the account's risk lock, so concurrent placers cannot both see room that only one of them may use. This
module never touches a database, a clock or a book: it is pure arithmetic on Decimal amounts, which is what lets
the backtest and the live pipeline share it unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, ClassVar, Protocol

from betpipe.sports import UnknownMarketError, market_rules

if TYPE_CHECKING:
    from betpipe.config import Settings

__all__ = [
    "CONTROLS",
    "RESTRICTION",
    "Assessment",
    "ExposureState",
    "RiskControl",
    "RiskLimits",
    "RiskViolation",
    "StakeCut",
    "assess",
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
    # A stake cut to fit a limit is rounded down to ``stake_increment`` and dropped below ``min_stake``.
    min_stake: Decimal = Decimal("0.01")
    stake_increment: Decimal = Decimal("0.01")
    # Account restriction (``betting.restriction``), off by default: once a book has lost this many settled bets by
    # CLV, a stake there is cut to ``restricted_max_stake`` and/or ``restricted_stake_fraction`` of the stake asked
    # (0: that cap not set; with both set the smaller wins).
    restrict_after_clv_wins: int = 0
    restricted_max_stake: Decimal = Decimal(0)
    restricted_stake_fraction: Decimal = Decimal(0)
    # Correlated exposure (issue 18): the stakes on one event summed across its markets (1X2, totals, handicaps: one
    # score decides them all) stay within this fraction of the current bankroll; 0 = off (the absolute per-event cap
    # ``max_event_exposure`` still holds).
    max_correlated_exposure: Decimal = Decimal(0)

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
            max_correlated_exposure=risk.max_correlated_exposure,
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
    restricted: dict[str, int] = field(default_factory=dict)  # book -> the CLV wins that restricted it

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


@dataclass(frozen=True)
class StakeCut:
    """A stake reduced to fit a limit: what was asked, what is left, and the (binding) rule that cut it."""

    control: str
    before: Decimal
    after: Decimal
    reason: str

    def details(self) -> dict[str, str]:
        return {"from": str(self.before), "to": str(self.after), "rule": self.control}


@dataclass(frozen=True)
class Assessment:
    """The controls' verdict on one candidate: rejected (``violation``), or accepted at ``stake`` (cut or not)."""

    stake: Decimal
    violation: RiskViolation | None = None
    cut: StakeCut | None = None


class RiskControl:
    """One limit. ``_validate`` rejects on what is not about size; ``headroom`` (size controls) is what is left."""

    NAME: ClassVar[str] = "control"

    def __call__(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        """All or nothing: a breach of the rule or a stake above the headroom (``assess`` cuts instead)."""
        violation = self._validate(candidate, state, limits)
        if violation is None:
            room = self.headroom(candidate, state, limits)
            if room is not None and candidate.stake > room:
                return self._violation(self._excess(candidate, candidate.stake, state, limits))
        return violation

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        return None

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal | None:
        """The largest stake this limit still allows; None for a control that is not about size."""
        return None

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
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
    """Today's settled losses (settlement date, the clock's UTC day) plus this stake stay within the limit."""

    NAME = "daily_loss"

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return limits.daily_loss_limit - state.loss_today

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        if state.loss_today >= limits.daily_loss_limit:
            return f"loss today {state.loss_today} has reached the limit {limits.daily_loss_limit}"
        return f"loss today {state.loss_today}, limit {limits.daily_loss_limit}: a stake of {stake} could pass it"


class StakeControl(RiskControl):
    NAME = "single_stake"

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return limits.max_stake

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        return f"stake {stake} above the limit {limits.max_stake}"


RESTRICTION = "book_restriction"


class BookRestrictionControl(RiskControl):
    """A restricted book (``ExposureState.restricted``: it lost enough bets to us by CLV) takes a smaller stake."""

    NAME = RESTRICTION

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal | None:
        if getattr(candidate, "book", None) not in state.restricted:
            return None
        caps = []
        if limits.restricted_max_stake > 0:
            caps.append(limits.restricted_max_stake)
        if limits.restricted_stake_fraction > 0:
            caps.append(candidate.stake * limits.restricted_stake_fraction)
        return min(caps) if caps else None

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        book = str(getattr(candidate, "book", ""))
        room = self.headroom(candidate, state, limits)
        cap = _round_down(room, limits) if room is not None else stake
        return f"{book} restricted after losing {state.restricted.get(book, 0)} bets by CLV: max stake {cap}"


class OpenExposureControl(RiskControl):
    NAME = "open_exposure"

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return limits.max_open_exposure - state.open_exposure

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        return f"open exposure would be {state.open_exposure + stake}, limit {limits.max_open_exposure}"


class EventControl(RiskControl):
    """Bets per event (rejects) and stake per event (cuts): correlated selections of one game are one risk."""

    NAME = "event"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        count = state.event_bets[candidate.event_id]
        if count >= limits.max_bets_per_event:
            return self._violation(
                f"event {candidate.event_id} already has {count} bet(s), limit {limits.max_bets_per_event}"
            )
        return None

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return limits.max_event_exposure - state.event_exposure.get(candidate.event_id, Decimal(0))

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        after = state.event_exposure.get(candidate.event_id, Decimal(0)) + stake
        return f"exposure on event {candidate.event_id} would be {after}, limit {limits.max_event_exposure}"


class CorrelatedExposureControl(RiskControl):
    """An event's stakes across all its markets (one score settles them all) within a fraction of the bankroll.

    Scales with the bankroll (``max_event_exposure`` is a fixed amount): a shrinking bankroll shrinks the room for a
    correlated position. Off (no headroom) when ``max_correlated_exposure`` is 0.
    """

    NAME = "correlated_exposure"

    def _cap(self, state: ExposureState, limits: RiskLimits) -> Decimal:
        return max(state.bankroll(limits), Decimal(0)) * limits.max_correlated_exposure

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal | None:
        if limits.max_correlated_exposure <= 0:
            return None
        return self._cap(state, limits) - state.event_exposure.get(candidate.event_id, Decimal(0))

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        after = state.event_exposure.get(candidate.event_id, Decimal(0)) + stake
        cap = self._cap(state, limits).quantize(Decimal("0.01"))
        return (
            f"exposure on event {candidate.event_id} across its markets would be {after}, limit {cap} "
            f"({limits.max_correlated_exposure} of the bankroll)"
        )


class BetsPerDayControl(RiskControl):
    NAME = "bets_per_day"

    def _validate(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> RiskViolation | None:
        if state.bets_today >= limits.max_bets_per_day:
            return self._violation(f"{state.bets_today} bets placed today, limit {limits.max_bets_per_day}")
        return None


class CompetitionExposureControl(RiskControl):
    NAME = "competition_exposure"

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return limits.max_competition_exposure - state.competition_exposure.get(candidate.competition, Decimal(0))

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        after = state.competition_exposure.get(candidate.competition, Decimal(0)) + stake
        return f"exposure on {candidate.competition} would be {after}, limit {limits.max_competition_exposure}"


class BankrollFloorControl(RiskControl):
    """Even if every open bet and this one lose, the bankroll stays at or above the floor."""

    NAME = "bankroll_floor"

    def headroom(self, candidate: Candidate, state: ExposureState, limits: RiskLimits) -> Decimal:
        return state.bankroll(limits) - state.open_exposure - limits.bankroll_floor

    def _excess(self, candidate: Candidate, stake: Decimal, state: ExposureState, limits: RiskLimits) -> str:
        worst = state.bankroll(limits) - state.open_exposure - stake
        return f"worst-case bankroll {worst} below the floor {limits.bankroll_floor}"


CONTROLS: tuple[RiskControl, ...] = (
    HaltControl(),
    DailyLossControl(),
    StakeControl(),
    BookRestrictionControl(),
    OpenExposureControl(),
    EventControl(),
    CorrelatedExposureControl(),
    BetsPerDayControl(),
    CompetitionExposureControl(),
    BankrollFloorControl(),
)


def _round_down(amount: Decimal, limits: RiskLimits) -> Decimal:
    if amount <= 0:
        return Decimal("0.00")
    step = limits.stake_increment if limits.stake_increment > 0 else Decimal("0.01")
    units = (amount / step).to_integral_value(rounding=ROUND_FLOOR)
    return (units * step).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)


def assess(
    candidate: Candidate,
    state: ExposureState,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> Assessment:
    """Run the controls in order: the first rule breach rejects; a stake above a headroom is cut to fit.

    The cut is rounded down to ``limits.stake_increment``; when that leaves less than ``limits.min_stake`` (no room
    at all included) the candidate is rejected by the control that cut it, with the reason the limit gives.
    """
    stake = candidate.stake
    cut: StakeCut | None = None
    for control in controls:
        violation = control._validate(candidate, state, limits)
        if violation is not None:
            return Assessment(stake, violation, cut)
        room = control.headroom(candidate, state, limits)
        if room is None or stake <= room:
            continue
        why = control._excess(candidate, stake, state, limits)
        fitted = _round_down(room, limits)
        if fitted <= 0:
            return Assessment(stake, control._violation(why), cut)
        if fitted < limits.min_stake:
            reason = f"{why}; cut to {fitted} to fit, below the minimum stake {limits.min_stake}"
            return Assessment(stake, control._violation(reason), cut)
        cut = StakeCut(
            control.NAME, candidate.stake, fitted, f"cut {candidate.stake} -> {fitted} to fit {control.NAME}: {why}"
        )
        stake = fitted
    return Assessment(stake, None, cut)


def first_violation(
    candidate: Candidate,
    state: ExposureState,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> RiskViolation | None:
    """The control that rejects the candidate (a stake above a headroom is cut, not rejected), or None."""
    return assess(candidate, state, limits, controls).violation


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
