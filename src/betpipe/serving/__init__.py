"""The prediction service: FastAPI app, the prediction function it shares with ``betpipe predict``, hot-swapped models.

Public surface only. Nothing here loads a model except through the registry's verified cache, and nothing on a
request path touches the database.
"""

from betpipe.serving.app import PredictionService, create_app, service_engine
from betpipe.serving.features import FeatureSnapshot, Fixtures, UnknownCompetitionError, UnknownTeamError
from betpipe.serving.predict import Predictions, SportPredictor, ab_unit, predict_frame, predict_upcoming
from betpipe.serving.state import ServingSnapshot, ServingState

__all__ = [
    "FeatureSnapshot",
    "Fixtures",
    "PredictionService",
    "Predictions",
    "ServingSnapshot",
    "ServingState",
    "SportPredictor",
    "UnknownCompetitionError",
    "UnknownTeamError",
    "ab_unit",
    "create_app",
    "predict_frame",
    "predict_upcoming",
    "service_engine",
]
