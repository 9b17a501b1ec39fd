"""Shadow scoring: record what a version predicted before kickoff, later score champion vs challenger on settled events.

Predictions are keyed (version, event) and written once: re-recording the same prediction changes nothing, and a
different one for the same key is reported as a conflict while the first (earliest) stays. Must never score a
prediction made at or after kickoff, an unsettled event, or a void outcome; each is counted in the report instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, insert, select

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.bulk import as_utc
from betpipe.db.schema import events, results
from betpipe.db.schema_registry import shadow_predictions
from betpipe.registry.aliases import CHALLENGER, CHAMPION, alias_version
from betpipe.registry.compare import ComparisonReport, MetricsFn, as_class_matrix, compare_predictions
from betpipe.registry.errors import RegistryError
from betpipe.registry.locking import lock, write_transaction
from betpipe.registry.versions import ModelVersion, get_version
from betpipe.sports import AWAY_WIN, HOME_WIN, outcome_codes

# Outcome labels from a settled frame (home_score, away_score); -1 marks a void outcome (not scored).
OutcomeFn = Callable[[pl.DataFrame], np.ndarray[Any, Any]]
_CHUNK = 500


def outcome_1x2(frame: pl.DataFrame) -> np.ndarray[Any, Any]:
    """0 home win, 1 draw, 2 away win: ``betpipe.sports``' outcome codes."""
    return outcome_codes(frame["home_score"].to_numpy(), frame["away_score"].to_numpy())


def outcome_moneyline(frame: pl.DataFrame) -> np.ndarray[Any, Any]:
    """0 home win, 1 away win (the modeling package's two-way order); a tie is void."""
    codes = outcome_1x2(frame)
    return np.where(codes == HOME_WIN, 0, np.where(codes == AWAY_WIN, 1, -1))


OUTCOMES: dict[str, OutcomeFn] = {"1x2": outcome_1x2, "moneyline": outcome_moneyline}


@dataclass(frozen=True)
class RejectedPrediction:
    event_id: int
    reason: str


@dataclass(frozen=True)
class ShadowWriteReport:
    inserted: int
    unchanged: int
    conflicting: tuple[int, ...]  # event ids already recorded with different probabilities (first kept)
    rejected: tuple[RejectedPrediction, ...]


def _reject_reasons(event_ids: Sequence[int], matrix: np.ndarray[Any, Any], known: set[int]) -> dict[int, str]:
    finite = np.isfinite(matrix).all(axis=1)
    in_range = finite & (matrix >= 0).all(axis=1) & (matrix <= 1).all(axis=1)
    sums_to_one = in_range & (np.abs(matrix.sum(axis=1) - 1.0) <= 1e-6)
    reasons: dict[int, str] = {}
    seen: set[int] = set()
    for index, event_id in enumerate(event_ids):
        if event_id in seen:
            reason = "event id repeated in one call; first kept"
        elif event_id not in known:
            reason = "unknown event id"
        elif not finite[index]:
            reason = "probabilities are not finite"
        elif not in_range[index]:
            reason = "probabilities outside [0, 1]"
        elif not sums_to_one[index]:
            reason = f"probabilities sum to {matrix[index].sum():.6f}, not 1"
        else:
            seen.add(event_id)
            continue
        reasons.setdefault(index, reason)
    return reasons


def record_shadow_predictions(
    engine: Engine,
    version_id: int,
    event_ids: Sequence[int],
    probabilities: np.ndarray[Any, Any],
    as_of: datetime,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> ShadowWriteReport:
    """Store each event's predicted class probabilities for ``version_id``; idempotent per (version, event).

    Writers for one version are serialised, so two concurrent recordings of one prediction store it once.
    """
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = as_class_matrix(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != len(event_ids):
        raise ValueError(f"{len(event_ids)} event ids but probabilities of shape {np.shape(probabilities)}")
    ids = [int(e) for e in event_ids]
    as_of = as_utc(as_of)
    with write_transaction(engine) as conn:
        lock(conn, f"shadow:{version_id}")
        get_version(conn, version_id)  # a clear error for an unknown version, before any write
        known: set[int] = set()
        existing: dict[int, list[float]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            known.update(int(e) for e in conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
            for event_id, stored in conn.execute(
                select(shadow_predictions.c.event_id, shadow_predictions.c.probabilities).where(
                    shadow_predictions.c.version_id == version_id, shadow_predictions.c.event_id.in_(chunk)
                )
            ):
                existing[int(event_id)] = stored if isinstance(stored, list) else json.loads(stored)
        reasons = _reject_reasons(ids, matrix, known)
        rows: list[dict[str, Any]] = []
        unchanged = 0
        conflicting: list[int] = []
        now = clock.now()
        for index, event_id in enumerate(ids):
            if index in reasons:
                continue
            values = [float(p) for p in matrix[index]]
            if event_id in existing:
                if np.array_equal(np.asarray(existing[event_id], dtype=np.float64), matrix[index]):
                    unchanged += 1
                else:
                    conflicting.append(event_id)
                continue
            rows.append(
                {
                    "version_id": version_id,
                    "event_id": event_id,
                    "probabilities": values,
                    "as_of": as_of,
                    "recorded_at": now,
                }
            )
        if rows:
            conn.execute(insert(shadow_predictions), rows)
    rejected = tuple(RejectedPrediction(ids[i], reason) for i, reason in sorted(reasons.items()))
    return ShadowWriteReport(len(rows), unchanged, tuple(conflicting), rejected)


@dataclass(frozen=True)
class ShadowReport:
    """Champion vs challenger on events both predicted before kickoff and that have since been settled."""

    sport: str
    market: str
    champion: ModelVersion
    challenger: ModelVersion
    scored_events: int
    pending_events: int  # predicted by both, not settled yet
    late_excluded: int  # a prediction made at or after kickoff
    void_excluded: int  # settled with no outcome to score (e.g. a moneyline tie)
    single_model_events: int  # settled but predicted by only one of the two
    comparison: ComparisonReport | None  # A = champion, B = challenger; None when nothing could be scored


def recorded_predictions(engine: Engine, version_id: int) -> pl.DataFrame:
    """Every prediction recorded for one version (event, probabilities, when): the rows A/B reports compare."""
    query = (
        select(
            shadow_predictions.c.event_id,
            shadow_predictions.c.probabilities,
            shadow_predictions.c.as_of,
            events.c.kickoff_utc,
            events.c.status,
            results.c.home_score,
            results.c.away_score,
        )
        .join(events, events.c.id == shadow_predictions.c.event_id)
        .outerjoin(results, results.c.event_id == shadow_predictions.c.event_id)
        .where(shadow_predictions.c.version_id == version_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pl.DataFrame(
        {
            "event_id": [int(r.event_id) for r in rows],
            "probabilities": [
                r.probabilities if isinstance(r.probabilities, list) else json.loads(r.probabilities) for r in rows
            ],
            "late": [as_utc(r.as_of) >= as_utc(r.kickoff_utc) for r in rows],
            "settled": [r.status == "finished" and r.home_score is not None for r in rows],
            "home_score": [r.home_score for r in rows],
            "away_score": [r.away_score for r in rows],
        },
        schema={
            "event_id": pl.Int64,
            "probabilities": pl.List(pl.Float64),
            "late": pl.Boolean,
            "settled": pl.Boolean,
            "home_score": pl.Int64,
            "away_score": pl.Int64,
        },
    )


def shadow_report(
    engine: Engine,
    sport: str,
    market: str,
    *,
    champion_id: int | None = None,
    challenger_id: int | None = None,
    outcome_fn: OutcomeFn | None = None,
    metrics_fn: MetricsFn | None = None,
) -> ShadowReport:
    """Score the current (or given) champion and challenger on the same settled, pre-kickoff-predicted events."""
    outcome = outcome_fn or OUTCOMES.get(market)
    if outcome is None:
        raise RegistryError(f"no outcome rule for market {market!r}; pass outcome_fn")
    versions: list[ModelVersion] = []
    for given, alias in ((champion_id, CHAMPION), (challenger_id, CHALLENGER)):
        if given is not None:
            with engine.connect() as conn:
                versions.append(get_version(conn, given))
            continue
        found = alias_version(engine, sport, market, alias)
        if found is None:
            raise RegistryError(f"{sport}/{market} has no {alias}; promote one or pass {alias}_id")
        versions.append(found)
    champ, chall = versions
    a, b = recorded_predictions(engine, champ.id), recorded_predictions(engine, chall.id)
    single = len(set(a.filter("settled")["event_id"]) ^ set(b.filter("settled")["event_id"]))
    both = a.join(
        b.select("event_id", pl.col("probabilities").alias("proba_b"), pl.col("late").alias("late_b")),
        on="event_id",
        how="inner",
    )
    pending = both.filter(~pl.col("settled")).height
    settled = both.filter("settled")
    late = settled.filter(pl.col("late") | pl.col("late_b"))
    timely = settled.filter(~(pl.col("late") | pl.col("late_b"))).sort("event_id")
    labels = outcome(timely) if timely.height else np.empty(0, dtype=np.int64)
    scorable = labels >= 0
    scored = timely.filter(pl.Series(scorable))
    comparison = None
    if scored.height:
        comparison = compare_predictions(
            champ,
            chall,
            np.asarray(scored["probabilities"].to_list(), dtype=np.float64),
            np.asarray(scored["proba_b"].to_list(), dtype=np.float64),
            labels[scorable].astype(np.int64),
            metrics_fn,
        )
    return ShadowReport(
        sport=sport,
        market=market,
        champion=champ,
        challenger=chall,
        scored_events=scored.height,
        pending_events=pending,
        late_excluded=late.height,
        void_excluded=int((~scorable).sum()),
        single_model_events=single,
        comparison=comparison,
    )
