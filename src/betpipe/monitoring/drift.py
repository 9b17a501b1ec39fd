"""Feature drift statistics: a live sample of one feature against the summary of its training distribution.

Pure numpy/scipy, no database. The reference is summarised once per model version (``summarise``): decile bins with
their shares (for PSI and Jensen-Shannon) and an evenly spaced quantile sketch (for KS and Wasserstein), so the
training rows need not be re-read every cycle. Small live samples are judged by PSI and KS, large ones by the
Wasserstein distance (in reference standard deviations) and the Jensen-Shannon distance, because KS p-values
flag trivial shifts once samples are large and PSI is noisy when they are small. Never raises on empty, constant
or NaN input: such a feature gets ``method = "no_data"`` and a reason in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial.distance import jensenshannon

if TYPE_CHECKING:
    from betpipe.config import MonitoringSettings

__all__ = ["DriftResult", "DriftThresholds", "ReferenceSummary", "compare", "finite", "summarise"]

BINS = 10
SKETCH_POINTS = 1000
_SHARE_FLOOR = 1e-4  # PSI is infinite for an empty bin; a floor keeps it finite and still large


def finite(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The finite values of a column (nulls arrive as NaN from polars)."""
    array = np.asarray(values, dtype=np.float64)
    return np.asarray(array[np.isfinite(array)], dtype=np.float64)


@dataclass(frozen=True)
class ReferenceSummary:
    """One feature's training distribution as stored in ``drift_references``."""

    feature: str
    rows: int  # finite training values
    null_share: float
    mean: float | None
    std: float | None
    edges: tuple[float, ...]  # inner bin edges; len(shares) == len(edges) + 1
    shares: tuple[float, ...]
    sketch: tuple[float, ...]

    def bin_shares(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), values, side="right")
        counts = np.bincount(index, minlength=len(self.shares)).astype(np.float64)
        return counts / max(values.size, 1)


def summarise(
    feature: str, values: npt.ArrayLike, *, bins: int = BINS, sketch_points: int = SKETCH_POINTS
) -> ReferenceSummary:
    """Decile edges (ties merged, so a discrete feature gets fewer bins), shares and a quantile sketch."""
    raw = np.asarray(values, dtype=np.float64)
    data = finite(raw)
    null_share = float(1.0 - data.size / raw.size) if raw.size else 1.0
    if data.size == 0:
        return ReferenceSummary(feature, 0, null_share, None, None, (), (1.0,), ())
    edges = np.unique(np.quantile(data, np.arange(1, bins) / bins))
    index = np.searchsorted(edges, data, side="right")
    shares = np.bincount(index, minlength=edges.size + 1) / data.size
    if data.size <= sketch_points:
        sketch = np.sort(data)
    else:
        sketch = np.asarray(np.quantile(data, (np.arange(sketch_points) + 0.5) / sketch_points), dtype=np.float64)
    return ReferenceSummary(
        feature=feature,
        rows=int(data.size),
        null_share=null_share,
        mean=float(data.mean()),
        std=float(data.std()),
        edges=tuple(float(e) for e in edges),
        shares=tuple(float(s) for s in shares),
        sketch=tuple(float(s) for s in sketch),
    )


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2
    ks_pvalue: float = 0.01
    wasserstein: float = 0.25  # in reference standard deviations
    js: float = 0.1  # Jensen-Shannon distance, base 2 (0 identical, 1 disjoint)
    min_rows: int = 30
    large_sample: int = 1000

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> DriftThresholds:
        return cls(
            psi=settings.psi_threshold,
            ks_pvalue=settings.ks_pvalue,
            wasserstein=settings.wasserstein_threshold,
            js=settings.js_threshold,
            min_rows=settings.drift_min_rows,
            large_sample=settings.drift_large_sample,
        )


@dataclass(frozen=True)
class DriftResult:
    feature: str
    live_rows: int
    reference_rows: int
    method: str  # small | large | no_data
    psi: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    wasserstein: float | None
    js_distance: float | None
    drifted: bool
    reason: str

    def as_row(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "live_rows": self.live_rows,
            "reference_rows": self.reference_rows,
            "method": self.method,
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "wasserstein": self.wasserstein,
            "js_distance": self.js_distance,
            "drifted": self.drifted,
        }


def psi(expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> float:
    """Population stability index over the same bins: sum((a - e) * ln(a / e)), shares floored."""
    e = np.maximum(expected, _SHARE_FLOOR)
    a = np.maximum(actual, _SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _ks(reference: ReferenceSummary, live: npt.NDArray[np.float64]) -> tuple[float, float]:
    """KS statistic against the sketch; the p-value uses the true reference size, not the sketch's."""
    statistic = float(stats.ks_2samp(live, np.asarray(reference.sketch)).statistic)
    n, m = live.size, reference.rows
    effective = max(1, round(n * m / (n + m)))
    return statistic, float(stats.kstwo.sf(statistic, effective))


def _no_data(feature: str, live_rows: int, reference_rows: int, reason: str) -> DriftResult:
    return DriftResult(feature, live_rows, reference_rows, "no_data", None, None, None, None, None, False, reason)


def compare(reference: ReferenceSummary, live_values: npt.ArrayLike, thresholds: DriftThresholds) -> DriftResult:
    """All four statistics; the pair for the live sample's size decides whether the feature drifted."""
    live = finite(live_values)
    name, n, m = reference.feature, int(live.size), reference.rows
    if m < thresholds.min_rows:
        return _no_data(name, n, m, f"no data: {m} training values, need {thresholds.min_rows}")
    if n < thresholds.min_rows:
        return _no_data(name, n, m, f"no data: {n} live values, need {thresholds.min_rows}")
    expected = np.asarray(reference.shares, dtype=np.float64)
    actual = reference.bin_shares(live)
    psi_value = psi(expected, actual)
    ks_statistic, ks_pvalue = _ks(reference, live)
    raw_distance = float(stats.wasserstein_distance(live, np.asarray(reference.sketch)))
    scale = reference.std if reference.std and reference.std > 0 else 1.0
    wasserstein = raw_distance / scale
    js = float(jensenshannon(expected, actual, base=2)) if expected.size > 1 else 0.0
    js = 0.0 if not np.isfinite(js) else js
    if n < thresholds.large_sample:
        method = "small"
        drifted = psi_value > thresholds.psi or ks_pvalue < thresholds.ks_pvalue
        reason = f"PSI {psi_value:.3f} (limit {thresholds.psi}), KS p {ks_pvalue:.2g} (limit {thresholds.ks_pvalue})"
    else:
        method = "large"
        drifted = wasserstein > thresholds.wasserstein or js > thresholds.js
        reason = (
            f"Wasserstein {wasserstein:.3f} sd (limit {thresholds.wasserstein}), JS {js:.3f} (limit {thresholds.js})"
        )
    return DriftResult(name, n, m, method, psi_value, ks_statistic, ks_pvalue, wasserstein, js, drifted, reason)
