"""Every served prediction stored with the version that made it, written in batches off the request path.

Requests only append to an in-memory queue (and skip a (version, event) already recorded); a writer thread drains it
every ``flush_seconds`` into ``registry.record_shadow_predictions``, one call per version. While the database is
down the pending rows wait (up to ``max_pending``; beyond that the oldest are dropped and counted). Must never block
or fail a request because of a write, and never record a fixture that is not an event (there is no id to score).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Engine

from betpipe.clock import Clock
from betpipe.logs import get_logger
from betpipe.registry import record_shadow_predictions

log = get_logger(__name__)


@dataclass(frozen=True)
class _Pending:
    version_id: int
    event_id: int
    probabilities: tuple[float, ...]
    as_of: datetime


class PredictionRecorder:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        flush_seconds: float = 0.5,
        max_pending: int = 200_000,
        on_write: Callable[[str, int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._on_write = on_write  # (outcome, rows): "inserted" / "unchanged" / "conflicting" / "rejected" / ...
        self._pending: deque[_Pending] = deque()
        self._seen: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def record(self, version_id: int, event_id: int, probabilities: list[float], as_of: datetime) -> None:
        """Queue one served prediction; a (version, event) already queued or stored is skipped at once."""
        key = (version_id, event_id)
        if key in self._seen:  # a racy read is fine: the registry's write is idempotent per (version, event)
            return
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            self._pending.append(_Pending(version_id, event_id, tuple(probabilities), as_of))
            while len(self._pending) > self._max_pending:
                dropped = self._pending.popleft()
                self._seen.discard((dropped.version_id, dropped.event_id))
                self.dropped += 1

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write what is queued; rows of a failed write go back to the queue. Returns rows handed to the registry."""
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        if not batch:
            return 0
        by_version: dict[int, list[_Pending]] = {}
        for item in batch:
            by_version.setdefault(item.version_id, []).append(item)
        done = 0
        for version_id, items in by_version.items():
            try:
                report = record_shadow_predictions(
                    self._engine,
                    version_id,
                    [item.event_id for item in items],
                    np.array([item.probabilities for item in items], dtype=np.float64),
                    max(item.as_of for item in items),  # the latest request instant: never claims an earlier one
                    clock=self._clock,
                )
            except Exception as error:
                log.warning("storing served predictions failed; will retry", version_id=version_id, error=str(error))
                with self._lock:
                    self._pending.extendleft(reversed(items))
                self._notify("failed", len(items))
                continue
            done += len(items)
            self.written += report.inserted
            self._notify("inserted", report.inserted)
            self._notify("unchanged", report.unchanged)
            self._notify("conflicting", len(report.conflicting))
            self._notify("rejected", len(report.rejected))
        return done

    def _notify(self, outcome: str, rows: int) -> None:
        if self._on_write is not None and rows:
            self._on_write(outcome, rows)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="betpipe-prediction-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the writer after one last flush (a failing one leaves the rows unwritten, logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()
