"""The champion's prices for an event at an instant: the feature snapshot and the predictor, one function for all.

Below both ``serving`` (HTTP) and ``live`` (the betting run, the predictions stage) so that neither reaches into the
other for its probabilities. Must never import ``serving``, ``live``, ``backtest``, ``cli`` or ``monitoring``
(``tests/test_architecture.py`` checks), never load a model except through the registry's verified cache, and never
build features.
"""

from betpipe.predict.markets import MarketBodies, TotalAnchors, load_anchors
from betpipe.predict.predictor import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    PredictionError,
    Predictions,
    SportPredictor,
    ab_unit,
    predict_frame,
    predict_upcoming,
    prediction_frame,
)
from betpipe.predict.snapshot import (
    FeatureSnapshot,
    Fixtures,
    UnknownCompetitionError,
    UnknownTeamError,
    latest_build_id,
    load_feature_snapshot,
)

__all__ = [
    "CHALLENGER_ARM",
    "CHAMPION_ARM",
    "FeatureSnapshot",
    "Fixtures",
    "MarketBodies",
    "PredictionError",
    "Predictions",
    "SportPredictor",
    "TotalAnchors",
    "UnknownCompetitionError",
    "UnknownTeamError",
    "ab_unit",
    "latest_build_id",
    "load_anchors",
    "load_feature_snapshot",
    "predict_frame",
    "predict_upcoming",
    "prediction_frame",
]
