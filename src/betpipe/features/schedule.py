"""Schedule features from the fixture list alone: rest days, back-to-back / short rest, games in the last N days.

Only kickoff times are used (never results), and only fixtures strictly before the event's kickoff; postponed and
cancelled fixtures do not count. A value is marked known from the previous fixture's kickoff: before that instant
it is not certain the previous game took place.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.features.definitions import Schedule
from betpipe.features.timeline import Timeline, query_order

DAY_MS = 86_400_000
NOT_HELD = ("postponed", "cancelled")


def fixture_timeline(fixtures: pl.DataFrame) -> tuple[Timeline, NDArray[np.int64]]:
    """A timeline of every held-or-scheduled fixture per team, plus each entry's kickoff (ms)."""
    team = np.concatenate([fixtures["home_idx"].to_numpy(), fixtures["away_idx"].to_numpy()]).astype(np.int64)
    ms = np.concatenate([fixtures["kickoff_ms"].to_numpy()] * 2).astype(np.int64)
    event_id = np.concatenate([fixtures["event_id"].to_numpy()] * 2).astype(np.int64)
    return Timeline.build(team, ms, event_id, sides=True), ms


def schedule_values(
    timeline: Timeline,
    entry_ms: NDArray[np.int64],
    home: NDArray[np.int64],
    away: NDArray[np.int64],
    kickoff_ms: NDArray[np.int64],
    definition: Schedule,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.int64]]:
    """Feature columns for events (vectors), and the instant (ms, -1 = none) from which they are known."""
    out: dict[str, NDArray[np.float64]] = {}
    known = np.full(kickoff_ms.shape, -1, dtype=np.int64)
    rest: dict[str, NDArray[np.float64]] = {}
    for side, team in (("home", home), ("away", away)):
        order = query_order(team, kickoff_ms) if team.size > 4096 else None  # one sort serves every search below
        spans = np.asarray(definition.spans_days, dtype=np.int64) * DAY_MS
        merged = timeline.previous_and_counts(team, kickoff_ms, spans, order) if order is not None else None
        if merged is not None:
            previous, counts = merged
        else:
            end = timeline.search(team, kickoff_ms, order)  # shared by the previous game and every count
            previous = timeline.before(team, end)
            counts = np.zeros((spans.size, team.size), dtype=np.int64)
            for i, span_ms in enumerate(spans):
                counts[i] = end - timeline.search(team, np.maximum(kickoff_ms - span_ms, 0), order)
        has_previous = previous >= 0
        previous_ms = np.where(has_previous, entry_ms[np.maximum(previous, 0)], -1)
        known = np.maximum(known, previous_ms)
        days = np.where(has_previous, (kickoff_ms - previous_ms) / DAY_MS, np.nan)
        rest[side] = days
        out[f"f_rest_days_{side}"] = days
        out[f"f_back_to_back_{side}"] = np.where(has_previous, days <= definition.back_to_back_days, np.nan)
        out[f"f_short_rest_{side}"] = np.where(has_previous, days < definition.short_rest_days, np.nan)
        for span, count in zip(definition.spans_days, counts, strict=True):
            out[f"f_games_{span}d_{side}"] = count.astype(np.float64)
    out["f_rest_diff"] = rest["home"] - rest["away"]
    return out, known
