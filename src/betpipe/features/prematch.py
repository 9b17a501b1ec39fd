"""When a pre-match price is known: the one time rule that market features, bench columns and the backtest share.

Rule (docs/features.md): a pre-match quote (kind ``opening`` or ``live``) of an executable book is usable at a
decision instant t iff ``captured_at <= t < kickoff``. As of kickoff itself (the training matrix) that is
``captured_at < kickoff``. Sources stamp their pre-match prices accordingly: football-data collects them before the
fixture, so its reader stamps them no later than an hour before kickoff. Never returns a closing or in-play price, an
aggregate book's price, a market with an unpriced or impossible selection, or a quote captured at or after kickoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl

from betpipe.db.bulk import as_utc

PREMATCH_KINDS = ("opening", "live")
"""Quote kinds that are pre-match prices; ``closing`` and ``in_play`` never are."""


def prematch_known(at: pl.Expr | None = None, *, kickoff: pl.Expr | None = None) -> pl.Expr:
    """The rule as a polars predicate on a ``captured_at`` column: before kickoff, and at or before ``at`` if given.

    This is the only place the comparison is written; every reader of pre-match prices filters with it.
    """
    before_kickoff = pl.col("captured_at") < (pl.col("kickoff_utc") if kickoff is None else kickoff)
    return before_kickoff if at is None else before_kickoff & (pl.col("captured_at") <= at)


def complete_prices(names: Sequence[str]) -> pl.Expr:
    """Every selection priced with a finite decimal > 1 (anything else is not a market one could bet into)."""
    return pl.all_horizontal([pl.col(n).is_not_null() & pl.col(n).is_finite() & (pl.col(n) > 1.0) for n in names])


def prematch_prices(
    quotes: pl.DataFrame,
    *,
    at: datetime | str | None = None,
    books: Sequence[str] | None = None,
    market: str = "1x2",
    kinds: Sequence[str] = PREMATCH_KINDS,
    selections: Sequence[str] = ("home", "draw", "away"),
    kickoffs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each (event, book)'s latest complete pre-match market known at ``at``, by ``prematch_known``.

    ``quotes`` has the feature store's quote columns (``event_id, bookmaker, market, kind, captured_at`` and the
    selection prices; ``is_aggregate`` is honoured when present) plus ``kickoff_utc``, or ``kickoffs``
    (``event_id, kickoff_utc``) supplies it. ``at`` is one instant for every event, the name of a per-event decision
    column in ``kickoffs``/``quotes`` (e.g. ``"decided_at"``), or None: as known just before kickoff. Returns
    ``event_id, bookmaker, known_at`` and the selection prices, sorted by (event_id, bookmaker).
    """
    columns = set(quotes.columns) | set(() if kickoffs is None else kickoffs.columns)
    if "kickoff_utc" not in columns:
        raise ValueError("prematch_prices needs kickoff_utc: pass kickoffs=(event_id, kickoff_utc) or add it")
    at_expr: pl.Expr | None
    if at is None:
        at_expr = None
    elif isinstance(at, str):
        if at not in columns:
            raise ValueError(f"no decision column {at!r} in the quotes or kickoffs")
        at_expr = pl.col(at)
    else:
        at_expr = pl.lit(as_utc(at)).cast(quotes.schema["captured_at"])
    conditions = [pl.col("market") == market, pl.col("kind").is_in(list(kinds)), complete_prices(selections)]
    if "is_aggregate" in quotes.columns:
        conditions.append(~pl.col("is_aggregate").fill_null(True))
    if books is not None:
        conditions.append(pl.col("bookmaker").is_in(list(books)))
    # The row conditions first, the join to kickoffs on what is left: the same rows, a fraction of the join.
    usable = quotes.filter(*conditions)
    if kickoffs is not None:
        usable = usable.join(kickoffs, on="event_id", how="inner")
    usable = usable.filter(prematch_known(at_expr))
    return (
        usable.sort("event_id", "bookmaker", "captured_at", "kind")
        .group_by("event_id", "bookmaker", maintain_order=True)
        .last()
        .select("event_id", "bookmaker", pl.col("captured_at").alias("known_at"), *[pl.col(s) for s in selections])
    )


def lexical_code(column: pl.Expr, values: pl.Series) -> pl.Expr:
    """``column`` (text) as integers in the byte order of its values (``values``: the column's contents), so an
    integer sort is the text sort; nulls stay null."""
    categories = sorted(values.drop_nulls().unique().to_list())
    return column.cast(pl.Enum(categories)).to_physical()


def with_kickoffs(quotes: pl.DataFrame, kickoffs: pl.DataFrame) -> pl.DataFrame:
    """``quotes.join(kickoffs.select("event_id", "kickoff_utc"), on="event_id", how="inner")`` for events with
    one kickoff each, by a binary search on the sorted ids instead of a hash join; quote order is kept (every caller
    sorts afterwards). Anything else (repeated ids, a quote frame that has a kickoff already) takes the join."""
    ids = kickoffs["event_id"].to_numpy()
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if (
        "kickoff_utc" in quotes.columns
        or kickoffs["event_id"].null_count()
        or quotes["event_id"].null_count()
        or bool(np.any(sorted_ids[1:] == sorted_ids[:-1]))
    ):
        return quotes.join(kickoffs.select("event_id", "kickoff_utc"), on="event_id", how="inner")
    wanted = quotes["event_id"].to_numpy()
    position = np.searchsorted(sorted_ids, wanted)
    safe = np.minimum(position, max(sorted_ids.size - 1, 0))
    found = (position < sorted_ids.size) & (sorted_ids[safe] == wanted) if sorted_ids.size else position < 0
    kickoff = kickoffs["kickoff_utc"].gather(order[safe[found]])
    return quotes.filter(pl.Series(found)).with_columns(kickoff)
