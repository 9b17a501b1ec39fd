"""An in-process cache of loaded models for the serving layer: hot-swaps when the champion alias moves.

Models are keyed by artifact sha256, so a version is verified and deserialised once, and two versions sharing an
artifact share the loaded object. Must never hand out a model that was not loaded through ``load_verified``; the
champion lookup is one small query per call, so a promotion or rollback takes effect on the next request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.registry.aliases import CHAMPION, alias_version
from betpipe.registry.errors import RegistryError
from betpipe.registry.protocol import PersistableModel
from betpipe.registry.versions import ModelClasses, ModelVersion, get_version, load_verified


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    model: PersistableModel


class ModelCache:
    """Thread-safe; keeps the ``max_models`` most recently used artifacts in memory."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        model_classes: ModelClasses | None = None,
        max_models: int = 8,
    ) -> None:
        if max_models < 1:
            raise ValueError("max_models must be >= 1")
        self._engine = engine
        self._settings = settings
        self._classes = model_classes
        self._max = max_models
        self._models: OrderedDict[str, PersistableModel] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many artifacts were deserialised: lets tests and metrics see cache behaviour

    def _model(self, version: ModelVersion) -> PersistableModel:
        key = version.artifact_sha256
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = load_verified(version, self._settings, self._classes)  # outside the lock: loading can be slow
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            self.loads += 1
            while len(self._models) > self._max:
                self._models.popitem(last=False)
        return model

    def get(self, version_id: int) -> LoadedModel:
        with self._engine.connect() as conn:
            version = get_version(conn, version_id)
        return LoadedModel(version, self._model(version))

    def get_alias(self, sport: str, market: str, alias: str) -> LoadedModel:
        version = alias_version(self._engine, sport, market, alias)
        if version is None:
            raise RegistryError(f"{sport}/{market} has no {alias}; promote a version first")
        return LoadedModel(version, self._model(version))

    def get_champion(self, sport: str, market: str) -> LoadedModel:
        return self.get_alias(sport, market, CHAMPION)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
