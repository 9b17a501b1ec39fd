"""The one source of "now": the system clock live, a simulated clock in the backtest.

Library code that needs the current instant takes a ``Clock`` from its caller; it never calls ``datetime.now()``
itself. That is what lets the backtest run the live code unchanged: only the clock (and the book) differ.
A clock always returns timezone-aware UTC instants, and a simulated clock never moves backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "ClockError", "FixedClock", "SimulatedClock", "SystemClock", "as_utc_instant"]


class ClockError(ValueError):
    """A clock was given a naive instant or asked to go back in time."""


def as_utc_instant(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused rather than guessed (a wrong zone shifts every feature)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ClockError(f"naive datetime {value.isoformat()} given to a clock: attach a timezone (UTC)")
    return value.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current UTC instant."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC. Live runs use this one."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class FixedClock:
    """Always the same instant: for tests and for 'as of' runs (``train --as-of``)."""

    def __init__(self, instant: datetime) -> None:
        self._instant = as_utc_instant(instant)

    def now(self) -> datetime:
        return self._instant

    def __repr__(self) -> str:
        return f"FixedClock({self._instant.isoformat()})"


class SimulatedClock:
    """A clock the backtest steps through history; it only moves forward, so no decision can see its own future.

    >>> from datetime import datetime, UTC, timedelta
    >>> clock = SimulatedClock(datetime(2020, 1, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(days=1)).isoformat()
    '2020-01-02T00:00:00+00:00'
    """

    def __init__(self, start: datetime) -> None:
        self._now = as_utc_instant(start)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, instant: datetime) -> datetime:
        target = as_utc_instant(instant)
        if target < self._now:
            raise ClockError(f"a simulated clock cannot go back from {self._now.isoformat()} to {target.isoformat()}")
        self._now = target
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ClockError(f"a simulated clock cannot advance by a negative {delta}")
        self._now = self._now + delta
        return self._now

    def __repr__(self) -> str:
        return f"SimulatedClock({self._now.isoformat()})"
