"""What the registry needs from a model: the scikit-learn surface plus safe, file-based persistence.

The registry never pickles: a model writes its own JSON / ``.npz`` (``allow_pickle=False``) / LightGBM text files
and reads them back eagerly (the directory is deleted right after ``load_artifact`` returns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import polars as pl


@runtime_checkable
class PersistableModel(Protocol):
    """The modeling package's estimators follow this; so does any test double."""

    def fit(self, X: pl.DataFrame, y: Any) -> Self: ...

    def predict_proba(self, X: pl.DataFrame) -> np.ndarray[Any, Any]: ...

    def get_params(self) -> dict[str, Any]: ...

    def save_artifact(self, directory: Path) -> None:
        """Write only ``.json``, ``.npz`` (no object arrays) or ``.txt`` (LightGBM model) files into ``directory``."""
        ...

    @classmethod
    def load_artifact(cls, directory: Path) -> Self:
        """Read everything into memory: ``directory`` is a temporary copy of verified bytes."""
        ...
