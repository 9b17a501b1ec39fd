"""Line shopping: per selection, the best executable price among the books a strategy holds accounts at.

Shared by the live run and the backtest, so both take a selection at the same book. The input is already filtered by
the one pre-match time rule (each row a book's latest complete market captured at or before the decision and before
kickoff), so this only chooses; it never sees an aggregate column (callers refuse aggregate books) and never prefers
a stale price: where an event has a fresh price at some book, stale books are dropped; where every price is stale,
the freshest is kept so that ``decide`` counts the event as stale instead of losing it silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from betpipe.clock import as_utc_instant

__all__ = ["BOOK_OF", "best_prices"]

BOOK_OF = "at_"
"""Column prefix naming the book each ``book_<selection>`` price was taken from (``at_home`` ...)."""


def best_prices(
    quotes: pl.DataFrame,
    names: Sequence[str],
    books: Sequence[str],
    *,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> pl.DataFrame:
    """One row per event: ``decided_at`` and, per selection, the best price (``book_<n>``) and its book (``at_<n>``).

    ``quotes`` has ``event_id, book, decided_at`` (the capture instant) and one price column per selection, plus any
    per-event columns (competition, kickoff_utc, ...) that are carried through. Ties go to the earlier book of
    ``books``. ``decided_at`` is the latest capture instant among the prices chosen: every price the bet used was
    known by then. With ``now`` and ``max_age``, books whose price is older than ``max_age`` at ``now`` are dropped
    from an event that has a fresher one.
    """
    rank = {b: i for i, b in enumerate(books)}
    frame = quotes.filter(pl.col("book").is_in(list(books)))
    carried = [c for c in frame.columns if c not in {"book", "decided_at", *names}]
    if max_age is not None and now is not None and frame.height:
        limit = pl.lit(as_utc_instant(now)).cast(frame.schema["decided_at"]) - pl.duration(
            microseconds=int(max_age.total_seconds() * 1e6)
        )
        fresh = pl.col("decided_at") >= limit
        frame = frame.filter(fresh | ~fresh.any().over("event_id"))
    frame = frame.with_columns(pl.col("book").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
    keys = [c for c in carried if c != "event_id"]
    out = frame.select("event_id", *keys).unique("event_id", keep="first", maintain_order=True)
    times = []
    for n in names:
        best = (
            frame.filter(pl.col(n).is_not_null())
            .sort("event_id", pl.col(n), "_rank", descending=[False, True, False])
            .group_by("event_id", maintain_order=True)
            .first()
            .select("event_id", pl.col(n).alias(f"book_{n}"), pl.col("book").alias(f"{BOOK_OF}{n}"), "decided_at")
            .rename({"decided_at": f"_at_{n}"})
        )
        out = out.join(best, on="event_id", how="left")
        times.append(pl.col(f"_at_{n}"))
    out = out.with_columns(pl.max_horizontal(times).alias("decided_at")).drop([f"_at_{n}" for n in names])
    return out.select(
        "event_id", *keys, "decided_at", *[c for n in names for c in (f"book_{n}", f"{BOOK_OF}{n}")]
    ).sort("event_id")
