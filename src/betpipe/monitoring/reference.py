"""Drift of the serving models' features: live rows against a stored summary of each version's training rows.

The reference is decided here: the feature-store ``training_matrix`` over the version's lineage window
(``lineage.start .. lineage.end``), summarised once per version and feature into ``drift_references`` (decile bins,
shares, a 1,000-point quantile sketch; see ``drift``). A version's training rows never change, so the summary is built
the first time the version is checked and reused after, and each cycle reads only the live rows: the features of the
events the version served predictions for (``shadow_predictions.recorded_at`` in the drift window). Feature rows come
through a ``FeatureSource`` so a test or a caller with rows in hand can supply them; the default reads the store.
Writes only ``drift_references`` and ``drift_results``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import polars as pl
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.db.schema_monitoring import drift_references, drift_results
from betpipe.db.schema_registry import model_aliases, shadow_predictions
from betpipe.monitoring.alerts import AlertSpec
from betpipe.monitoring.channels import Severity
from betpipe.monitoring.drift import DriftResult, DriftThresholds, ReferenceSummary, compare, summarise
from betpipe.registry.versions import ModelVersion, get_version

CLOSE_MARKET = "close_1x2"  # the registry market of the model of the close (``live.close_source.CLOSE_MARKET``)

__all__ = ["DriftReport", "FeatureSource", "StoreFeatureSource", "check_drift", "feature_columns", "serving_versions"]


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """Model inputs are the numeric ``f_*`` columns of the feature store."""
    return [c for c, t in frame.schema.items() if c.startswith("f_") and t.is_numeric()]


class FeatureSource(Protocol):
    def reference(self, version: ModelVersion) -> pl.DataFrame: ...

    def live(self, version: ModelVersion, start: datetime, end: datetime) -> pl.DataFrame: ...


class StoreFeatureSource:
    """Feature rows from the feature store, as known at each event's kickoff (the rows the model saw or will see)."""

    def __init__(self, engine: Engine, settings: Settings, clock: Clock) -> None:
        self._engine, self._settings, self._clock = engine, settings, clock

    def reference(self, version: ModelVersion) -> pl.DataFrame:
        from betpipe.features.retrieval import training_matrix

        if version.market == CLOSE_MARKET:  # the model of the close: its own inputs (monitoring.close_drift)
            from betpipe.monitoring.close_drift import close_reference_rows

            return close_reference_rows(self._engine, self._settings, version)
        lineage = version.lineage
        return training_matrix(
            self._engine,
            sport=version.sport,
            start=lineage.start,
            end=lineage.end + timedelta(microseconds=1),  # the lineage end is inclusive, the matrix end is not
            settings=self._settings,
            clock=self._clock,
        )

    def live(self, version: ModelVersion, start: datetime, end: datetime) -> pl.DataFrame:
        from betpipe.features.retrieval import training_matrix

        if version.market == CLOSE_MARKET:
            from betpipe.monitoring.close_drift import close_live_rows

            return close_live_rows(self._engine, self._settings, version, start, end)
        with self._engine.connect() as conn:
            ids = conn.execute(
                select(shadow_predictions.c.event_id).where(
                    shadow_predictions.c.version_id == version.id,
                    shadow_predictions.c.recorded_at >= start,
                    shadow_predictions.c.recorded_at < end,
                )
            ).scalars()
            event_ids = [int(i) for i in ids]
        if not event_ids:
            return pl.DataFrame()
        frame = training_matrix(self._engine, sport=version.sport, settings=self._settings, clock=self._clock)
        return frame.filter(pl.col("event_id").is_in(event_ids))


def serving_versions(engine: Engine) -> list[ModelVersion]:
    """Every version an alias (champion or challenger) points at: the models whose live inputs matter."""
    with engine.connect() as conn:
        ids = sorted({int(i) for i in conn.execute(select(model_aliases.c.version_id)).scalars()})
        return [get_version(conn, i) for i in ids]


def _stored_references(engine: Engine, version_id: int) -> list[ReferenceSummary]:
    with engine.connect() as conn:
        rows = conn.execute(select(drift_references).where(drift_references.c.version_id == version_id)).mappings()
        return [
            ReferenceSummary(
                feature=r["feature"],
                rows=int(r["rows"]),
                null_share=float(r["null_share"]),
                mean=r["mean"],
                std=r["std"],
                edges=tuple(r["edges"]),
                shares=tuple(r["shares"]),
                sketch=tuple(r["sketch"]),
            )
            for r in rows
        ]


def references_for(
    engine: Engine, version: ModelVersion, source: FeatureSource, *, clock: Clock
) -> list[ReferenceSummary]:
    """The stored summaries of ``version``, built from its training rows the first time they are asked for."""
    stored = _stored_references(engine, version.id)
    if stored:
        return stored
    frame = source.reference(version)
    summaries = [summarise(c, frame[c].cast(pl.Float64).to_numpy()) for c in feature_columns(frame)]
    if summaries:
        now = as_utc_instant(clock.now())
        try:
            _store(engine, version.id, summaries, now)
        except IntegrityError:  # a concurrent cycle stored them first: theirs are the same summaries
            return _stored_references(engine, version.id)
    return summaries


def _store(engine: Engine, version_id: int, summaries: list[ReferenceSummary], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(drift_references),
            [
                {
                    "version_id": version_id,
                    "feature": s.feature,
                    "rows": s.rows,
                    "null_share": s.null_share,
                    "mean": s.mean,
                    "std": s.std,
                    "edges": list(s.edges),
                    "shares": list(s.shares),
                    "sketch": list(s.sketch),
                    "built_at": now,
                }
                for s in summaries
            ],
        )


@dataclass(frozen=True)
class DriftReport:
    version_id: int
    live_rows: int
    results: tuple[DriftResult, ...]
    message: str
    alert: AlertSpec | None


def check_drift(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock,
    source: FeatureSource | None = None,
    versions: Sequence[ModelVersion] | None = None,
) -> list[DriftReport]:
    """Compare, store one ``drift_results`` row per feature, and raise one alert per version with drifted features."""
    config = settings.monitoring
    thresholds = DriftThresholds.from_settings(config)
    feature_source = source or StoreFeatureSource(engine, settings, clock)
    end = as_utc_instant(clock.now())
    start = end - timedelta(days=config.drift_window_days)
    reports: list[DriftReport] = []
    for version in serving_versions(engine) if versions is None else versions:
        references = references_for(engine, version, feature_source, clock=clock)
        live = feature_source.live(version, start, end)
        if not references:
            reports.append(
                DriftReport(version.id, live.height, (), f"{version.label}: no data: no training rows", None)
            )
            continue
        results = tuple(
            compare(
                ref, live[ref.feature].cast(pl.Float64).to_numpy() if ref.feature in live.columns else [], thresholds
            )
            for ref in references
        )
        with engine.begin() as conn:
            conn.execute(
                insert(drift_results),
                [
                    {
                        "checked_at": end,
                        "version_id": version.id,
                        "window_start": start,
                        "window_end": end,
                        **r.as_row(),
                    }
                    for r in results
                ],
            )
        drifted = [r for r in results if r.drifted]
        judged = [r for r in results if r.method != "no_data"]
        if not judged:
            message = f"{version.label}: no data: {live.height} live row(s), need {thresholds.min_rows}"
        else:
            message = (
                f"{version.label}: {len(drifted)} of {len(judged)} feature(s) drifted over {live.height} live rows"
            )
        alert = None
        if drifted:
            alert = AlertSpec(
                "drift",
                f"drift:{version.id}",
                Severity.WARNING,
                f"feature drift in {version.label}",
                message + ": " + "; ".join(f"{r.feature}: {r.reason}" for r in drifted),
                {"version_id": version.id, "features": [r.feature for r in drifted]},
            )
        reports.append(DriftReport(version.id, live.height, results, message, alert))
    return reports
