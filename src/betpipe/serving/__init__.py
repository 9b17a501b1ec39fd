"""The prediction service: the FastAPI app over ``betpipe.predict`` (the prediction function it shares with the live
run and ``betpipe predict``) and the live run's ``opportunities``, with hot-swapped models.

Public surface only. Nothing here loads a model except through the registry's verified cache, and nothing on a
request path touches the database. The predictor and feature snapshot are ``betpipe.predict``'s: import them there.
"""

from betpipe.serving.app import PredictionService, create_app, service_engine
from betpipe.serving.state import ServingSnapshot, ServingState

__all__ = [
    "PredictionService",
    "ServingSnapshot",
    "ServingState",
    "create_app",
    "service_engine",
]
