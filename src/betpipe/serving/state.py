"""What the service serves from: an immutable snapshot of loaded models and features, swapped whole when it changes.

A poller thread reads two small things every ``alias_poll_seconds``: the alias table and the newest feature build per
sport. When either moved, it builds the affected sports' predictors off the request path (models through the
registry's verified ``ModelCache``) and replaces the snapshot reference in one assignment, so a request sees either
the old or the new snapshot, never a mix. Must never load a model or read features on a request, and never drop a
working snapshot because the database went away: predictions keep flowing from memory and readiness says why.
Each snapshot carries every scheduled event's answer already encoded (``answers``), built with it and swapped with
it, so a request never sees an answer of another snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select, text

from betpipe.clock import Clock
from betpipe.config import Settings
from betpipe.db.schema_registry import model_aliases
from betpipe.logs import get_logger
from betpipe.predict import SportPredictor, latest_build_id, load_anchors, load_feature_snapshot
from betpipe.registry import CHALLENGER, CHAMPION, ModelCache
from betpipe.serving.answers import EventAnswer, event_answers
from betpipe.sports import SPORTS

log = get_logger(__name__)

# (champion version id, challenger version id or None, feature build id or None) per sport
SportKey = tuple[int, int | None, int | None]


@dataclass(frozen=True)
class ServingSnapshot:
    predictors: dict[str, SportPredictor]
    keys: dict[str, SportKey]
    sport_of_event: dict[int, str]
    sport_of_competition: dict[str, str]
    loaded_at: datetime
    notes: tuple[str, ...] = ()  # why a sport with a champion is not served (e.g. no feature build yet)
    # Per scheduled event, its answer encoded at every depth (``answers``); per sport, to reuse what did not move.
    answers: dict[int, EventAnswer] = field(default_factory=dict)
    sport_answers: dict[str, dict[int, EventAnswer]] = field(default_factory=dict)


@dataclass
class Health:
    database_ok: bool = False
    database_error: str | None = None
    refresh_error: str | None = None
    polls: int = 0
    swaps: int = 0
    swapped_at: dict[str, datetime] = field(default_factory=dict)


class ServingState:
    """Holds the current snapshot; ``refresh`` (called by the poller) builds and swaps in a new one when needed."""

    def __init__(self, engine: Engine, settings: Settings, clock: Clock, cache: ModelCache | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.cache = cache or ModelCache(engine, settings)
        self.snapshot: ServingSnapshot | None = None
        self.health = Health()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_swap: Callable[[ServingSnapshot], None] | None = None  # e.g. metrics; called after each swap

    def _keys(self) -> dict[str, SportKey]:
        """The alias table and the newest build of each sport: two cheap reads, the only per-poll work."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_aliases.c.sport, model_aliases.c.market, model_aliases.c.alias, model_aliases.c.version_id)
            ).all()
        aliases = {(str(s), str(m), str(a)): int(v) for s, m, a, v in rows}
        keys: dict[str, SportKey] = {}
        for sport, rules in SPORTS.items():
            market = rules.prediction_market
            champion = aliases.get((sport, market, CHAMPION))
            if champion is None:
                continue
            challenger = aliases.get((sport, market, CHALLENGER))
            keys[sport] = (champion, challenger, latest_build_id(self.engine, sport, self.settings))
        return keys

    def refresh(self) -> bool:
        """Swap in a new snapshot if an alias or a feature build moved; True when it swapped."""
        with self._refresh_lock:
            try:
                keys = self._keys()
            except Exception as error:  # the database is down or unreachable: keep serving what is loaded
                self.health.database_ok = False
                self.health.database_error = _one_line(error)
                raise
            self.health.database_ok, self.health.database_error = True, None
            self.health.polls += 1
            current = self.snapshot
            if current is not None and current.keys == keys:
                return False
            snapshot = self._build(keys, current)
            self.snapshot = snapshot  # the swap: one reference assignment
            self.health.swaps += 1
            now = self.clock.now()
            for sport, key in keys.items():
                if current is None or current.keys.get(sport) != key:
                    self.health.swapped_at[sport] = now
            if self.on_swap is not None:
                self.on_swap(snapshot)
            log.info("serving snapshot swapped", keys={s: list(k) for s, k in keys.items()}, notes=snapshot.notes)
            return True

    def _build(self, keys: dict[str, SportKey], current: ServingSnapshot | None) -> ServingSnapshot:
        predictors: dict[str, SportPredictor] = {}
        sport_answers: dict[str, dict[int, EventAnswer]] = {}
        served: dict[str, SportKey] = {}
        notes: list[str] = []
        share = self.settings.serving.ab_challenger_share
        for sport, key in keys.items():
            if current is not None and current.keys.get(sport) == key and sport in current.predictors:
                predictors[sport], served[sport] = current.predictors[sport], key
                sport_answers[sport] = current.sport_answers[sport]
                continue
            champion_id, challenger_id, build_id = key
            if build_id is None:
                notes.append(f"{sport}: a champion but no feature build; run `betpipe features build`")
                served[sport] = key
                continue
            features = load_feature_snapshot(self.engine, sport, self.settings)
            if features is None:
                notes.append(f"{sport}: the feature build disappeared while loading")
                continue
            champion = self.cache.get(champion_id)
            challenger = self.cache.get(challenger_id) if challenger_id is not None and share > 0 else None
            anchors = load_anchors(self.engine, features, now=self.clock.now()) if sport == "soccer" else None
            predictors[sport] = SportPredictor.build(features, champion, challenger, share, anchors=anchors)
            sport_answers[sport] = event_answers(predictors[sport])
            served[sport] = (champion_id, challenger_id, features.build_id)
        sport_of_event = {event: sport for sport, p in predictors.items() for event in p.features.row_of_event}
        sport_of_competition = {code: sport for sport, p in predictors.items() for code in p.features.competitions}
        return ServingSnapshot(
            predictors=predictors,
            keys=served,
            sport_of_event=sport_of_event,
            sport_of_competition=sport_of_competition,
            loaded_at=self.clock.now(),
            notes=tuple(notes),
            answers={event: answer for answers in sport_answers.values() for event, answer in answers.items()},
            sport_answers=sport_answers,
        )

    def check_database(self) -> str | None:
        """None when a trivial query answers, else the reason (one line)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as error:
            self.health.database_ok, self.health.database_error = False, _one_line(error)
            return self.health.database_error
        self.health.database_ok, self.health.database_error = True, None
        return None

    def start(self, interval: float) -> None:
        """Load now (in the background: an unreachable database must not hold up start-up) and then poll."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, args=(interval,), name="betpipe-alias-poll", daemon=True)
        self._thread.start()

    @property
    def polling(self) -> bool:
        """True while the poller thread is alive (False before ``start`` and once ``stop`` returned)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the poller and wait for it: the app's lifespan calls this on shutdown, before the engine is disposed,
        so no refresh runs against a database that is gone (a test's, once it is torn down)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout=timeout)
        if thread.is_alive():  # a refresh stuck in the database: it stops at its next check, and says nothing then
            log.warning("serving poller still in a refresh after stop", seconds=timeout)
            return
        self._thread = None

    def _poll(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
                self.health.refresh_error = None
            except Exception as error:
                if self._stop.is_set():  # shutting down: the engine may be disposed under us; not news
                    return
                line = _one_line(error)
                if line != self.health.refresh_error:  # once per distinct error, not every poll of a store that stays
                    log.warning("serving refresh failed", error=line)  # unmigrated or down
                self.health.refresh_error = line
            if self._stop.wait(interval):
                return


def _one_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    message = str(orig if orig is not None else error) or type(error).__name__
    first = next((line.strip() for line in message.splitlines() if line.strip()), type(error).__name__)
    return f"{type(error).__name__}: {first}"
