"""The one prediction function the service, the live run and ``betpipe predict`` share: features in, probabilities out.

A ``SportPredictor`` pairs a feature snapshot with the loaded champion (and challenger, when an A/B share is set)
and scores every scheduled event once per model version (one ``predict_proba`` call each), so a request for a
known event is a lookup and a batch of fixtures is one feature pass plus one ``predict_proba``. The A/B arm of an
event is a pure function of its id. Must never load a model itself (the registry's ``ModelCache`` does, verified)
and never return probabilities that are not finite, non-negative rows summing to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.predict.markets import MarketBodies, TotalAnchors, market_bodies
from betpipe.predict.snapshot import FeatureSnapshot, Fixtures, load_feature_snapshot
from betpipe.registry import LoadedModel, ModelCache
from betpipe.registry.protocol import PersistableModel
from betpipe.sports import SPORTS, sport_rules

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
OUTCOMES = {3: ("home", "draw", "away"), 2: ("home", "away")}
CHAMPION_ARM = "champion"
CHALLENGER_ARM = "challenger"


class PredictionError(ValueError):
    """A model returned something that is not a probability distribution per row: never served."""


def predict_frame(model: PersistableModel, frame: pl.DataFrame) -> FloatArray:
    """``model.predict_proba`` on feature rows, checked: one finite distribution per row."""
    if frame.height == 0:
        return np.empty((0, 0), dtype=np.float64)
    proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != frame.height or proba.shape[1] not in OUTCOMES:
        raise PredictionError(f"predict_proba returned shape {proba.shape} for {frame.height} rows")
    if not (np.isfinite(proba).all() and (proba >= 0).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)):
        raise PredictionError("predict_proba returned rows that are not probability distributions")
    return proba


def ab_unit(event_ids: IntArray) -> FloatArray:
    """A uniform number in [0, 1) per event id (splitmix64): the same on every process, machine and run."""
    z = np.asarray(event_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return np.asarray((z >> np.uint64(11)).astype(np.float64) / float(1 << 53), dtype=np.float64)


@dataclass(frozen=True)
class Predictions:
    """Rows of predictions: which model made each (``version_ids``), on which arm, with what probabilities."""

    rows: pl.DataFrame  # event_id (null for fixtures), competition, kickoff_utc, home/away team ids
    probabilities: FloatArray
    version_ids: IntArray
    challenger: NDArray[np.bool_]
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class SportPredictor:
    sport: str
    market: str
    features: FeatureSnapshot
    champion: LoadedModel
    challenger: LoadedModel | None
    challenger_share: float
    upcoming_proba: dict[int, FloatArray]  # version id -> probabilities of every scheduled event (features.upcoming)
    upcoming_challenger: NDArray[np.bool_]  # per scheduled event: served by the challenger
    # Per scheduled event, plain Python values for the one-event hot path (no frame or array work per request).
    upcoming_records: tuple[dict[str, Any], ...]
    upcoming_lists: dict[int, list[list[float]]]
    outcomes: tuple[str, ...]
    # Soccer with ``anchors``: per version, every scheduled event's markets (``predict.markets``), else empty.
    anchors: TotalAnchors | None = None
    upcoming_markets: dict[int, MarketBodies] | None = None

    @classmethod
    def build(
        cls,
        features: FeatureSnapshot,
        champion: LoadedModel,
        challenger: LoadedModel | None = None,
        challenger_share: float = 0.0,
        *,
        anchors: TotalAnchors | None = None,
    ) -> SportPredictor:
        """Score every scheduled event with each model once; requests then only look rows up. With ``anchors``
        (soccer), every market of every scheduled event is priced here too, per version."""
        share = challenger_share if challenger is not None else 0.0
        proba = {champion.version.id: predict_frame(champion.model, features.upcoming)}
        if challenger is not None and share > 0:
            proba[challenger.version.id] = predict_frame(challenger.model, features.upcoming)
        ids = np.asarray(features.upcoming["event_id"].to_numpy(), dtype=np.int64)
        priced = anchors is not None and sport_rules(features.sport).outcomes == ("home", "draw", "away")
        names = features.team_names
        records = tuple(
            {
                "event_id": row["event_id"],
                "competition": row["competition"],
                "kickoff": row["kickoff_utc"],
                "home_team": names.get(row["home_team_id"], str(row["home_team_id"])),
                "away_team": names.get(row["away_team_id"], str(row["away_team_id"])),
            }
            for row in features.upcoming.select(_ROW_COLUMNS).iter_rows(named=True)
        )
        return cls(
            sport=features.sport,
            market=champion.version.market,
            features=features,
            champion=champion,
            challenger=challenger if share > 0 else None,
            challenger_share=share,
            upcoming_proba=proba,
            upcoming_challenger=ab_unit(ids) < share,
            upcoming_records=records,
            upcoming_lists={version: matrix.tolist() for version, matrix in proba.items()},
            outcomes=sport_rules(features.sport).outcomes,
            anchors=anchors if priced else None,
            upcoming_markets=(
                {v: market_bodies(m, anchors.p_over, anchors.source) for v, m in proba.items()}
                if priced and anchors is not None
                else None
            ),
        )

    def fixture_markets(
        self, proba: FloatArray, competitions: list[str], depths: frozenset[str]
    ) -> MarketBodies | None:
        """Markets of fixtures by teams (champion probabilities ``proba``), anchored on their competitions' base
        rates: a fit on the request, about 1-2 ms of CPU per fixture, hence asked for per query; None for NFL."""
        if self.anchors is None or proba.shape[0] == 0 or not depths:
            return None
        p_over, source = self.anchors.for_competitions(competitions)
        return market_bodies(proba, p_over, source, depths=depths)

    def versions(self) -> list[LoadedModel]:
        return [self.champion] if self.challenger is None else [self.champion, self.challenger]

    def events(self, rows: IntArray) -> Predictions:
        """Predictions for scheduled events at ``rows`` of ``features.upcoming``: a gather, no model call."""
        challenger = self.upcoming_challenger[rows]
        proba = self.upcoming_proba[self.champion.version.id][rows]
        version_ids = np.full(rows.size, self.champion.version.id, dtype=np.int64)
        if self.challenger is not None and challenger.any():
            proba = np.where(challenger[:, None], self.upcoming_proba[self.challenger.version.id][rows], proba)
            version_ids[challenger] = self.challenger.version.id
        return Predictions(
            rows=self.features.upcoming[rows].select(_ROW_COLUMNS),
            probabilities=proba,
            version_ids=version_ids,
            challenger=challenger,
            outcomes=self.outcomes,
        )

    def fixtures(self, fixtures: Fixtures) -> Predictions:
        """Fixtures that are not events: one feature pass, one champion ``predict_proba`` (no id, so no A/B arm)."""
        frame = self.features.fixture_rows(fixtures)
        proba = predict_frame(self.champion.model, frame)
        return Predictions(
            rows=frame.select(_ROW_COLUMNS),
            probabilities=proba,
            version_ids=np.full(frame.height, self.champion.version.id, dtype=np.int64),
            challenger=np.zeros(frame.height, dtype=np.bool_),
            outcomes=self.outcomes,
        )


_ROW_COLUMNS = ("event_id", "competition", "kickoff_utc", "home_team_id", "away_team_id")


def serving_market(sport: str) -> str:
    return sport_rules(sport).prediction_market


def predict_upcoming(
    engine: Engine,
    settings: Settings,
    *,
    competition: str,
    after: datetime,
    cache: ModelCache | None = None,
) -> pl.DataFrame:
    """The champion's probabilities, with its version, for every scheduled event of ``competition`` after ``after``.

    What ``betpipe predict --upcoming`` prints, from the same ``SportPredictor`` the service serves with.
    """
    cache = cache or ModelCache(engine, settings)
    for sport in SPORTS:
        features = load_feature_snapshot(engine, sport, settings)
        if features is None or competition not in features.competitions:
            continue
        predictor = SportPredictor.build(features, cache.get_champion(sport, serving_market(sport)))
        kickoff_ms = features.upcoming_kickoff_ms
        wanted = (features.upcoming["competition"] == competition).to_numpy() & (
            kickoff_ms > int(as_utc(after).timestamp() * 1000)
        )
        return prediction_frame(predictor, predictor.events(np.flatnonzero(wanted).astype(np.int64)))
    raise LookupError(
        f"no competition {competition!r} in any feature build: ingest it and run `betpipe features build`"
    )


def prediction_frame(predictor: SportPredictor, predictions: Predictions) -> pl.DataFrame:
    """Predictions as one flat table: ids, teams by name, the model version, one ``p_<outcome>`` column each."""
    names = predictor.features.team_names
    rows = predictions.rows
    by_id = {v.version.id: v.version for v in predictor.versions()}
    columns: dict[str, Any] = {
        "event_id": rows["event_id"],
        "competition": rows["competition"],
        "kickoff_utc": rows["kickoff_utc"],
        "home_team": [names.get(int(t), str(t)) for t in rows["home_team_id"].to_list()],
        "away_team": [names.get(int(t), str(t)) for t in rows["away_team_id"].to_list()],
    }
    for position, outcome in enumerate(predictions.outcomes):
        column = predictions.probabilities[:, position] if predictions.probabilities.size else np.empty(0)
        columns[f"p_{outcome}"] = pl.Series(f"p_{outcome}", column, dtype=pl.Float64)
    columns["model_version_id"] = pl.Series("model_version_id", predictions.version_ids, dtype=pl.Int64)
    columns["model_version"] = pl.Series(
        "model_version", [by_id[int(v)].version for v in predictions.version_ids], dtype=pl.Int64
    )
    columns["model_type"] = pl.Series(
        "model_type", [by_id[int(v)].model_type for v in predictions.version_ids], dtype=pl.Utf8
    )
    return pl.DataFrame(columns)
