"""Model features of events as known strictly before a decision instant, not their kickoff.

The backtest, the live close-model source and its drift check all need the feature store's as-of Elo and form at the
instant a bet is decided; one function here keeps that time rule in one place, below every package that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.features.asof import schedule_columns
from betpipe.features.store import current_index
from betpipe.features.timeline import query_order, to_ms
from betpipe.ingest.records import UTC_DATETIME

__all__ = ["decision_features"]


def decision_features(
    engine: Engine, *, sport: str, event_ids: Sequence[int], decided_at: Sequence[datetime], settings: Settings
) -> pl.DataFrame:
    """Model features of ``event_ids`` as known strictly before each one's decision instant (not its kickoff).

    Elo and form come from the feature store's as-of index at that instant, so a result that became known between
    the decision and the kickoff (a Friday game before a Saturday one) cannot leak in; schedule values are nulled
    where their known-from instant is not before the decision. Market features are left out: the backtest's market
    leg is the named sharp book's price read by ``load_prices``, with its own time rule.
    """
    index, _ = current_index(engine, sport, settings, check_source=False)
    events = index.tables.events
    wanted = pl.DataFrame(
        {"event_id": pl.Series(list(event_ids), dtype=pl.Int64), "decided_at": pl.Series(list(decided_at))}
    ).with_columns(pl.col("decided_at").cast(UTC_DATETIME))
    rows = wanted.join(events, on="event_id", how="inner", maintain_order="left")
    as_of = to_ms(rows.get_column("decided_at"))
    as_of = np.minimum(as_of, rows.get_column("kickoff_ms").to_numpy())
    home, away = rows.get_column("home_idx").to_numpy(), rows.get_column("away_idx").to_numpy()
    orders = {side: query_order(np.maximum(team, 0), as_of) for side, team in (("home", home), ("away", away))}
    season, neutral = rows.get_column("season_year").to_numpy(), rows.get_column("neutral_site").to_numpy()
    elo, _ = index.elo_columns(home, away, as_of, season, neutral, orders)
    columns = [pl.Series(name, values) for name, values in elo.items()]
    columns += index.form_columns(index.form_rows(home, away, as_of, orders))
    visible = rows.get_column("schedule_known_ms").to_numpy() < as_of
    schedule = [
        pl.Series(name, np.where(visible, rows.get_column(name).cast(pl.Float64).to_numpy(), np.nan)).fill_nan(None)
        for name in schedule_columns(rows)
    ]
    base = rows.select("event_id", "competition", "season", "kickoff_utc", "decided_at")
    frame = pl.concat([base, pl.DataFrame(columns), pl.DataFrame(schedule)], how="horizontal")
    return frame
