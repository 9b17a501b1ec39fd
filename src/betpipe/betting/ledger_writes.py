"""The rows one placement call writes, collected while it decides and written together before it commits.

``ledger.place_groups`` decides candidate after candidate under the account's lock, and every decision it takes is
final only when the transaction commits: nothing another connection can see changes between "the bet row was
inserted" and "the transaction committed". So instead of one statement per row (an insert per proposal, an update and
a transition per state change), the call collects each bet's final row and every transition in the order the old
statements ran, and writes them with one ``executemany`` each: the same rows, the same ids (bets are inserted in
decision order, transitions in step order), the same commit. Never commits or rolls back by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from betpipe.db.schema_betting import bet_transitions, bets

__all__ = ["PendingBet", "PendingWrites"]

# A new bet's row lacks these until a state change sets them; executemany needs every row to name the same columns.
_LATE_COLUMNS = ("reason", "book_ref", "placed_at")
_INSERT_BETS = insert(bets).returning(bets.c.id, sort_by_parameter_order=True)
_INSERT_TRANSITIONS = insert(bet_transitions)


@dataclass
class PendingBet:
    """A bet touched by the call: a new row (``values`` is the whole row) or a recorded one (``values`` its changes)."""

    id: int | None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def new(self) -> bool:
        return self.id is None


@dataclass
class PendingWrites:
    """The writes of one placement call, in the order they were decided."""

    new: list[PendingBet] = field(default_factory=list)
    changed: dict[int, PendingBet] = field(default_factory=dict)
    steps: list[tuple[PendingBet, dict[str, Any]]] = field(default_factory=list)

    def propose(self, row: dict[str, Any]) -> PendingBet:
        bet = PendingBet(None, {**dict.fromkeys(_LATE_COLUMNS), **row})
        self.new.append(bet)
        return bet

    def recorded(self, bet_id: int) -> PendingBet:
        return self.changed.setdefault(bet_id, PendingBet(bet_id))

    def set(self, bet: PendingBet, **values: Any) -> None:
        bet.values.update(values)

    def transition(
        self,
        bet: PendingBet,
        from_state: str | None,
        to_state: str,
        at: datetime,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """A state change: the bet's ``state`` follows (unless it is the first), and the step is kept."""
        if from_state is not None:
            bet.values["state"] = to_state
        step = {"from_state": from_state, "to_state": to_state, "at": at, "reason": reason, "details": details}
        self.steps.append((bet, step))

    def write(self, conn: Connection) -> None:
        """Insert the new bets (ids back in decision order), update the recorded ones, then insert every step."""
        if self.new:
            ids = conn.execute(_INSERT_BETS, [bet.values for bet in self.new]).scalars().all()
            for bet, bet_id in zip(self.new, ids, strict=True):
                bet.id = int(bet_id)
        for bet_id, bet in self.changed.items():
            if bet.values:
                conn.execute(update(bets).where(bets.c.id == bindparam("b_id")).values(bet.values), {"b_id": bet_id})
        if self.steps:
            conn.execute(_INSERT_TRANSITIONS, [{"bet_id": bet.id, **step} for bet, step in self.steps])
