"""Registering model versions with their lineage, and loading them back only after their bytes are verified.

A version row records where the model came from (training range, rows, data hash, feature-set versions, params,
code version, metrics) and the sha256 of its artifact manifest. Must never load an artifact without verifying it
(``artifacts.verified_copy``) and never pick a model class from the artifact alone: the class comes from the
project's own ``MODEL_CLASSES`` by the registered ``model_type``.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, RowMapping, func, insert, select

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema_registry import model_aliases, model_versions
from betpipe.registry.artifacts import store_artifact, verified_copy
from betpipe.registry.errors import ArtifactIntegrityError, RegistryError, VersionNotFoundError
from betpipe.registry.locking import lock, versions_key, write_transaction
from betpipe.registry.protocol import PersistableModel

ModelClasses = Mapping[str, type[PersistableModel]]


@dataclass(frozen=True)
class TrainingLineage:
    """What the model was trained on; ``data_hash`` fingerprints the exact training matrix."""

    start: datetime
    end: datetime
    row_count: int
    data_hash: str
    feature_set_versions: dict[str, str] = field(default_factory=dict)
    seasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        object.__setattr__(self, "seasons", tuple(self.seasons))
        if self.start > self.end:
            raise ValueError(f"training range starts after it ends ({self.start} > {self.end})")
        if self.row_count < 0:
            raise ValueError(f"training row_count must be >= 0, got {self.row_count}")
        if not self.data_hash:
            raise ValueError("training data_hash is empty: lineage needs a fingerprint of the training data")

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "row_count": self.row_count,
            "data_hash": self.data_hash,
            "feature_set_versions": dict(sorted(self.feature_set_versions.items())),
            "seasons": list(self.seasons),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingLineage:
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            row_count=int(data["row_count"]),
            data_hash=str(data["data_hash"]),
            feature_set_versions=dict(data.get("feature_set_versions", {})),
            seasons=tuple(data.get("seasons", ())),
        )


@dataclass(frozen=True)
class ModelVersion:
    id: int
    sport: str
    market: str
    model_type: str
    version: int
    artifact_sha256: str
    lineage: TrainingLineage
    params: dict[str, Any]
    metrics: dict[str, Any]
    code_version: str
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.sport}/{self.market} v{self.version} (id {self.id}, {self.model_type})"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_document(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Plain JSON (numpy scalars unwrapped); NaN/inf are refused because neither JSON nor PostgreSQL accepts them."""
    try:
        text = json.dumps(dict(value), default=_json_default, allow_nan=False, sort_keys=True)
    except ValueError as error:
        bad = sorted(k for k, v in value.items() if isinstance(v, float) and not math.isfinite(v))
        raise ValueError(f"{what} must be finite JSON values; not finite: {bad or 'a nested value'}") from error
    except TypeError as error:
        raise ValueError(f"{what} is not JSON serialisable: {error}") from error
    result: dict[str, Any] = json.loads(text)
    return result


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+g<commit>[.dirty]`` in a git checkout, else ``<package version>+unknown``."""
    try:
        package = importlib.metadata.version("betpipe")
    except importlib.metadata.PackageNotFoundError:
        package = "0+unknown"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{package}+unknown"
    if not commit:
        return f"{package}+unknown"
    return f"{package}+g{commit[:12]}{'.dirty' if dirty else ''}"


def _row_to_version(row: RowMapping, aliases: tuple[str, ...] = ()) -> ModelVersion:
    return ModelVersion(
        id=int(row["id"]),
        sport=row["sport"],
        market=row["market"],
        model_type=row["model_type"],
        version=int(row["version"]),
        artifact_sha256=row["artifact_sha256"],
        lineage=TrainingLineage.from_json(row["lineage"]),
        params=dict(row["params"]),
        metrics=dict(row["metrics"]),
        code_version=row["code_version"],
        created_at=as_utc(row["created_at"]),
        aliases=aliases,
    )


def _aliases_by_version(conn: Connection) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for row in conn.execute(select(model_aliases.c.version_id, model_aliases.c.alias).order_by(model_aliases.c.alias)):
        found.setdefault(int(row.version_id), []).append(row.alias)
    return {key: tuple(value) for key, value in found.items()}


def get_version(conn: Connection, version_id: int) -> ModelVersion:
    row = conn.execute(select(model_versions).where(model_versions.c.id == version_id)).mappings().first()
    if row is None:
        raise VersionNotFoundError(f"model version id {version_id} is not registered (see `betpipe models list`)")
    return _row_to_version(row, _aliases_by_version(conn).get(int(version_id), ()))


def list_versions(engine: Engine, *, sport: str | None = None, market: str | None = None) -> list[ModelVersion]:
    """Every version, newest first within each sport and market, with the aliases it currently holds."""
    query = select(model_versions).order_by(
        model_versions.c.sport, model_versions.c.market, model_versions.c.version.desc()
    )
    if sport is not None:
        query = query.where(model_versions.c.sport == sport)
    if market is not None:
        query = query.where(model_versions.c.market == market)
    with engine.connect() as conn:
        aliases = _aliases_by_version(conn)
        return [_row_to_version(row, aliases.get(int(row["id"]), ())) for row in conn.execute(query).mappings()]


def register_model(
    engine: Engine,
    model: PersistableModel,
    *,
    model_type: str,
    sport: str,
    market: str,
    training: TrainingLineage,
    metrics: Mapping[str, Any],
    settings: Settings,
    params: Mapping[str, Any] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> ModelVersion:
    """Store the artifact by content and record a version; the same artifact for the same sport/market is a no-op.

    Re-registering an identical artifact returns the existing version, unless the lineage claimed now contradicts
    the one recorded then (that would mean two different training runs produced one model: worth a look).
    Registrations of one sport and market are serialised, so concurrent ones get distinct version numbers.
    """
    params_json = to_json_document(model.get_params() if params is None else params, "params")
    metrics_json = to_json_document(metrics, "metrics")
    lineage_json = training.to_json()
    stored = store_artifact(settings.artifact_dir, model_type, model.save_artifact)
    with write_transaction(engine) as conn:
        lock(conn, versions_key(sport, market))
        existing = (
            conn.execute(
                select(model_versions).where(
                    model_versions.c.sport == sport,
                    model_versions.c.market == market,
                    model_versions.c.artifact_sha256 == stored.sha256,
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:
            if existing["lineage"] != lineage_json:
                raise RegistryError(
                    f"artifact {stored.sha256} is already registered as {sport}/{market} v{existing['version']} "
                    "with a different training lineage; refusing to record a contradicting one"
                )
            return get_version(conn, int(existing["id"]))
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(
                model_versions.c.sport == sport, model_versions.c.market == market
            )
        ).scalar()
        result = conn.execute(
            insert(model_versions).values(
                sport=sport,
                market=market,
                model_type=model_type,
                version=int(latest or 0) + 1,
                artifact_sha256=stored.sha256,
                lineage=lineage_json,
                params=params_json,
                metrics=metrics_json,
                code_version=code_version(),
                created_at=clock.now(),
            )
        )
        return get_version(conn, int(result.inserted_primary_key[0]))  # type: ignore[index]


def resolve_model_class(model_type: str, model_classes: ModelClasses | None = None) -> type[PersistableModel]:
    """The class registered under ``model_type`` in the project's own table (never a name read from a file)."""
    if model_classes is not None:
        if model_type not in model_classes:
            raise RegistryError(f"unknown model type {model_type!r}; known: {', '.join(sorted(model_classes))}")
        return model_classes[model_type]
    try:
        from betpipe.modeling import get_model_class
    except ImportError as error:
        raise RegistryError(f"cannot resolve model type {model_type!r}: betpipe.modeling is unavailable") from error
    try:
        cls: type[PersistableModel] = get_model_class(model_type)
    except KeyError as error:
        raise RegistryError(f"unknown model type {model_type!r} (not in betpipe.modeling.MODEL_CLASSES)") from error
    return cls


def artifact_path(settings: Settings, artifact_sha256: str) -> Path:
    return settings.artifact_dir / artifact_sha256


def load_verified(
    version: ModelVersion, settings: Settings, model_classes: ModelClasses | None = None
) -> PersistableModel:
    """Verify the artifact of ``version`` byte for byte, then deserialise a private copy of the verified bytes."""
    cls = resolve_model_class(version.model_type, model_classes)
    with verified_copy(artifact_path(settings, version.artifact_sha256), version.artifact_sha256) as directory:
        try:
            return cls.load_artifact(directory)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ArtifactIntegrityError(
                f"{version.label}: verified artifact {version.artifact_sha256} could not be read by "
                f"{cls.__name__}.load_artifact: {error}"
            ) from error


def load_model(
    engine: Engine, version_id: int, settings: Settings, *, model_classes: ModelClasses | None = None
) -> PersistableModel:
    with engine.connect() as conn:
        version = get_version(conn, version_id)
    return load_verified(version, settings, model_classes)
