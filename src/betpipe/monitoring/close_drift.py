"""Drift of the model of the close's own inputs (issue 16 item 3): what ``StoreFeatureSource`` reads for a version
registered as soccer / ``close_1x2``, whose inputs are not the feature store's ``f_*`` columns but every book's
pre-match prices at the decision instant (``features.close_rows``).

Both sides are the model's design (``modeling.close_model.close_design``: each book's margin-free price against the
sharp one, their dispersion, the AH / O-U implied 1X2, Elo against the market, hours to kickoff), one ``f_close_*``
column each. Reference: the version's training rows (its lineage window, labelled matches). Live: the events the
live account bet with that version (``bets.model_version``) decided in the window, with inputs recomputed at each
bet's decision instant. Read-only: never writes, never reads a closing price as an input.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Engine, select

from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema_betting import bets
from betpipe.features.close_inputs import load_prematch_quotes
from betpipe.features.close_rows import history_frame, labelled_rows, target_frame
from betpipe.modeling.close_model import design_for
from betpipe.registry.versions import ModelVersion

__all__ = ["PREFIX", "close_design_frame", "close_live_rows", "close_reference_rows"]

PREFIX = "f_close_"


def _method(version: ModelVersion) -> str:
    return str(version.params.get("method", "multiplicative"))


def close_design_frame(frame: pl.DataFrame, method: str) -> pl.DataFrame:
    """The model's inputs of ``frame``'s rows as it sees them, one ``f_close_<input>`` column each."""
    if frame.height == 0:
        return pl.DataFrame()
    design = design_for(frame, method)
    return pl.DataFrame({f"{PREFIX}{name}": design.raw[:, i] for i, name in enumerate(design.names)})


def close_reference_rows(engine: Engine, settings: Settings, version: ModelVersion) -> pl.DataFrame:
    """The version's training rows: labelled matches kicked off within its lineage window."""
    history = history_frame(engine, settings, None, load_prematch_quotes(engine, "soccer"))
    start, end = version.lineage.start, version.lineage.end
    kickoff = pl.col("kickoff_utc")
    window = history.filter(labelled_rows(history), kickoff >= pl.lit(start), kickoff <= pl.lit(end))
    return close_design_frame(window, _method(version))


def close_live_rows(
    engine: Engine, settings: Settings, version: ModelVersion, start: datetime, end: datetime
) -> pl.DataFrame:
    """Inputs of every event the live account bet with ``version`` at a decision in [start, end), as of then."""
    from betpipe.features.decision import decision_features  # the feature store's as-of Elo at a decision instant

    query = select(bets.c.event_id, bets.c.competition, bets.c.kickoff, bets.c.decision_time).where(
        bets.c.model_version == version.id, bets.c.decision_time >= start, bets.c.decision_time < end
    )
    with engine.connect() as conn:
        rows = {(int(r[0]), str(r[1]), as_utc(r[2]), as_utc(r[3])) for r in conn.execute(query)}
    if not rows:
        return pl.DataFrame()
    keys = pl.DataFrame(
        sorted(rows), schema=["event_id", "competition", "kickoff_utc", "decided_at"], orient="row"
    ).unique("event_id", keep="first", maintain_order=True)
    ids = keys.get_column("event_id").to_list()
    elo = decision_features(
        engine, sport="soccer", event_ids=ids, decided_at=keys.get_column("decided_at").to_list(), settings=settings
    )
    target = target_frame(keys, elo, load_prematch_quotes(engine, "soccer", ids))
    return close_design_frame(target, _method(version))
