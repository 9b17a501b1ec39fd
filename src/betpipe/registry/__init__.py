"""The model registry: versions with lineage, verified content-addressed artifacts, aliases, rollback, shadow scores.

Library functions return data; the CLI (``betpipe models ...``) prints it. Nothing here ever unpickles anything.
"""

from betpipe.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    AliasMove,
    VersionDetails,
    alias_history,
    alias_version,
    challenger,
    champion,
    promote,
    rollback,
    show_version,
)
from betpipe.registry.cache import LoadedModel, ModelCache
from betpipe.registry.compare import ComparisonReport, MetricsFn, compare_predictions, compare_versions
from betpipe.registry.errors import (
    AliasError,
    ArtifactIntegrityError,
    NoPreviousChampionError,
    RegistryError,
    UnsafeArtifactError,
    VersionNotFoundError,
)
from betpipe.registry.protocol import PersistableModel
from betpipe.registry.shadow import (
    OUTCOMES,
    ShadowReport,
    ShadowWriteReport,
    record_shadow_predictions,
    shadow_report,
)
from betpipe.registry.versions import (
    ModelVersion,
    TrainingLineage,
    code_version,
    list_versions,
    load_model,
    register_model,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "OUTCOMES",
    "AliasError",
    "AliasMove",
    "ArtifactIntegrityError",
    "ComparisonReport",
    "LoadedModel",
    "MetricsFn",
    "ModelCache",
    "ModelVersion",
    "NoPreviousChampionError",
    "PersistableModel",
    "RegistryError",
    "ShadowReport",
    "ShadowWriteReport",
    "TrainingLineage",
    "UnsafeArtifactError",
    "VersionDetails",
    "VersionNotFoundError",
    "alias_history",
    "alias_version",
    "challenger",
    "champion",
    "code_version",
    "compare_predictions",
    "compare_versions",
    "list_versions",
    "load_model",
    "promote",
    "record_shadow_predictions",
    "register_model",
    "rollback",
    "shadow_report",
    "show_version",
]
