"""Model features that never see the future: versioned definitions, a point-in-time store, as-of retrieval."""

from betpipe.features.definitions import (
    FEATURE_DEFINITIONS,
    Elo,
    FeatureDefinition,
    Form,
    Market,
    Schedule,
    default_feature_set,
    feature_set_version,
    list_definitions,
)
from betpipe.features.prematch import PREMATCH_KINDS, prematch_known, prematch_prices
from betpipe.features.retrieval import EventFeatures, event_features, training_matrix
from betpipe.features.sanity import elo_sanity_check
from betpipe.features.store import BuildReport, SportBuild, build_features, catalogue

__all__ = [
    "FEATURE_DEFINITIONS",
    "PREMATCH_KINDS",
    "BuildReport",
    "Elo",
    "EventFeatures",
    "FeatureDefinition",
    "Form",
    "Market",
    "Schedule",
    "SportBuild",
    "build_features",
    "catalogue",
    "default_feature_set",
    "elo_sanity_check",
    "event_features",
    "feature_set_version",
    "list_definitions",
    "prematch_known",
    "prematch_prices",
    "training_matrix",
]
