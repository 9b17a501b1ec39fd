"""Proper scoring rules and calibration measures, exactly as ../shared/EVALUATION.md defines them.

Pure vectorised numpy: ``p`` is an (n, k) matrix of probabilities (k = 3: home, draw, away; k = 2: home, away) and
``y`` the class index of the observed outcome. Per-row losses (``*_rows``) exist so that differences between two
models can be bootstrapped on the same rows. This module never drops or repairs a row: NaN probabilities or labels
outside 0..k-1 raise ``ValueError``, because a silently skipped row would make two models incomparable.

>>> p = np.array([[0.5, 0.3, 0.2]])
>>> round(float(rps(p, np.array([0]))), 6)
0.145
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CLIP = 1e-15
BOOTSTRAP_RESAMPLES = 2000
_BOOTSTRAP_CHUNK = 100


def _check(p: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    probs = np.asarray(p, dtype=np.float64)
    labels = np.asarray(y)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probabilities must be an (n, k>=2) matrix, got shape {probs.shape}")
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels must have shape ({probs.shape[0]},), got {labels.shape}")
    if not np.isfinite(probs).all():
        raise ValueError(f"{int((~np.isfinite(probs)).any(axis=1).sum())} rows have non-finite probabilities")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must be class indices in 0..{probs.shape[1] - 1}")
    return probs, labels


def one_hot(y: npt.ArrayLike, k: int) -> FloatArray:
    labels = np.asarray(y, dtype=np.int64)
    out = np.zeros((labels.shape[0], k), dtype=np.float64)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def rps_rows(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Ranked probability score per row: squared errors of the cumulative distribution over ordered outcomes."""
    probs, labels = _check(p, y)
    k = probs.shape[1]
    gap = np.cumsum(probs - one_hot(labels, k), axis=1)[:, :-1]
    return np.asarray((gap * gap).sum(axis=1) / (k - 1), dtype=np.float64)


def log_loss_rows(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    probs, labels = _check(p, y)
    chosen = probs[np.arange(labels.shape[0]), labels]
    return np.asarray(-np.log(np.clip(chosen, CLIP, 1.0)), dtype=np.float64)


def brier_rows(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Multi-class Brier (sum over outcomes); for two outcomes the squared error of the home probability."""
    probs, labels = _check(p, y)
    err = probs - one_hot(labels, probs.shape[1])
    if probs.shape[1] == 2:
        return np.asarray(err[:, 0] ** 2, dtype=np.float64)
    return np.asarray((err * err).sum(axis=1), dtype=np.float64)


def rps(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    return float(rps_rows(p, y).mean())


def log_loss(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    return float(log_loss_rows(p, y).mean())


def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    return float(brier_rows(p, y).mean())


def accuracy(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Share of rows whose most probable outcome happened (ties go to the first outcome, home)."""
    probs, labels = _check(p, y)
    return float((probs.argmax(axis=1) == labels).mean())


def reliability_table(p: npt.ArrayLike, y: npt.ArrayLike, *, bins: int = 10) -> pl.DataFrame:
    """Per outcome and equal-width bin: rows, mean predicted probability, observed frequency (empty bins kept)."""
    probs, labels = _check(p, y)
    _n, k = probs.shape
    observed = one_hot(labels, k)
    index = np.clip((probs * bins).astype(np.int64), 0, bins - 1)  # p = 1.0 falls in the last bin
    frames = []
    for outcome in range(k):
        counts = np.bincount(index[:, outcome], minlength=bins).astype(np.float64)
        pred = np.bincount(index[:, outcome], weights=probs[:, outcome], minlength=bins)
        seen = np.bincount(index[:, outcome], weights=observed[:, outcome], minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            frames.append(
                pl.DataFrame(
                    {
                        "outcome": np.full(bins, outcome, dtype=np.int64),
                        "bin": np.arange(bins, dtype=np.int64),
                        "lower": np.arange(bins) / bins,
                        "upper": np.arange(1, bins + 1) / bins,
                        "rows": counts.astype(np.int64),
                        "mean_predicted": np.where(counts > 0, pred / counts, np.nan),
                        "observed": np.where(counts > 0, seen / counts, np.nan),
                    }
                )
            )
    return pl.concat(frames).with_columns(pl.col("mean_predicted", "observed").fill_nan(None))


def ece(p: npt.ArrayLike, y: npt.ArrayLike, *, bins: int = 10) -> float:
    """Expected calibration error: per outcome the bin-count-weighted |mean predicted - observed|, averaged."""
    table = reliability_table(p, y, bins=bins).filter(pl.col("rows") > 0)
    per_outcome = table.group_by("outcome").agg(
        ((pl.col("mean_predicted") - pl.col("observed")).abs() * pl.col("rows")).sum() / pl.col("rows").sum()
    )
    values = per_outcome.get_column("mean_predicted").to_numpy()
    return float(values.mean()) if values.size else 0.0


@dataclass(frozen=True)
class BootstrapCI:
    """Mean paired difference (a - b) with a percentile interval; negative means a has the lower loss."""

    mean: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.high < 0.0 or self.low > 0.0


def bootstrap_mean_ci(
    differences: npt.ArrayLike, *, n: int = BOOTSTRAP_RESAMPLES, seed: int = 0, level: float = 0.95
) -> list[BootstrapCI]:
    """Percentile CIs of the mean of each column of an (rows, m) matrix, all columns on the same resamples.

    Sharing the resamples makes every comparison in one table use identical bootstrap draws; memory stays
    bounded by drawing the row indices in chunks from one generator, so the result does not depend on chunking.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    rows = d.shape[0]
    if rows == 0:
        raise ValueError("cannot bootstrap zero rows")
    rng = np.random.default_rng(seed)
    means = np.empty((n, d.shape[1]), dtype=np.float64)
    for start in range(0, n, _BOOTSTRAP_CHUNK):
        size = min(_BOOTSTRAP_CHUNK, n - start)
        idx = rng.integers(0, rows, size=(size, rows))
        for j in range(d.shape[1]):
            means[start : start + size, j] = d[:, j][idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    centre = d.mean(axis=0)
    return [BootstrapCI(float(c), float(lo), float(hi)) for c, lo, hi in zip(centre, low, high, strict=True)]


def paired_bootstrap_ci(
    metric_a_rows: npt.ArrayLike, metric_b_rows: npt.ArrayLike, n: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> BootstrapCI:
    """95% CI of mean(a - b) over the same rows: the question is whether a beats b on these matches."""
    a = np.asarray(metric_a_rows, dtype=np.float64)
    b = np.asarray(metric_b_rows, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired rows must be two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    return bootstrap_mean_ci(a - b, n=n, seed=seed)[0]


def reliability_svg(table: pl.DataFrame, *, title: str, labels: tuple[str, ...] = ("home", "draw", "away")) -> str:
    """A dependency-free reliability plot (SVG text): observed frequency against mean prediction per bin."""
    size, pad = 360, 40
    colours = ("#1f77b4", "#ff7f0e", "#2ca02c")
    scale = size - 2 * pad

    def xy(px: float, py: float) -> str:
        return f"{pad + px * scale:.1f},{size - pad - py * scale:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-family="sans-serif" '
        'font-size="11">',
        f'<text x="{pad}" y="20">{title}</text>',
        f'<rect x="{pad}" y="{pad}" width="{scale}" height="{scale}" fill="none" stroke="#999"/>',
        f'<polyline points="{xy(0, 0)} {xy(1, 1)}" stroke="#bbb" stroke-dasharray="4" fill="none"/>',
        f'<text x="{pad}" y="{size - 10}">mean predicted probability (x) vs observed frequency (y)</text>',
    ]
    for outcome in sorted(set(table.get_column("outcome").to_list())):
        rows = table.filter((pl.col("outcome") == outcome) & (pl.col("rows") > 0))
        pts = " ".join(
            xy(float(a), float(b))
            for a, b in zip(rows.get_column("mean_predicted"), rows.get_column("observed"), strict=True)
        )
        colour = colours[outcome % len(colours)]
        name = labels[outcome] if outcome < len(labels) else str(outcome)
        parts.append(f'<polyline points="{pts}" stroke="{colour}" fill="none" stroke-width="1.5"/>')
        parts.append(f'<text x="{pad + 8}" y="{pad + 14 + 14 * outcome}" fill="{colour}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def binary_score_table(
    predictions: dict[str, NDArray[np.float64]], y: NDArray[np.float64], anchors: dict[str, str]
) -> pl.DataFrame:
    """Brier and log loss per predictor of a yes/no outcome on the same rows, and paired bootstrap 95% CIs of each
    predictor's difference to every anchor (one resampling of rows for all, seed 0). ``anchors`` maps a column
    suffix to the predictor it names: ``{"close": ..., "pre": ...}`` gives ``d_brier_close``, ``d_brier_pre``...;
    the suffix ``""`` gives ``d_brier``."""
    names = list(predictions)
    p = {n: np.clip(predictions[n], 1e-15, 1 - 1e-15) for n in names}
    scores = {
        "brier": {n: (p[n] - y) ** 2 for n in names},
        "log_loss": {n: -(y * np.log(p[n]) + (1 - y) * np.log(1 - p[n])) for n in names},
    }
    columns = [(metric, suffix) for metric in scores for suffix in anchors]
    cis = bootstrap_mean_ci(
        np.column_stack([scores[m][n] - scores[m][anchors[suffix]] for m, suffix in columns for n in names])
    )
    k = len(names)
    out: dict[str, list[object]] = {"model": list(names), "rows": [int(y.size)] * k}
    out |= {metric: [float(values[n].mean()) for n in names] for metric, values in scores.items()}
    for i, (metric, suffix) in enumerate(columns):
        chosen = cis[i * k : (i + 1) * k]
        key = f"d_{metric}_{suffix}" if suffix else f"d_{metric}"
        out[key] = [c.mean for c in chosen]
        out[f"{key}_low"] = [c.low for c in chosen]
        out[f"{key}_high"] = [c.high for c in chosen]
    return pl.DataFrame(out)


def format_ci(row: dict[str, Any], column: str) -> str:
    """A ``binary_score_table`` difference with its CI, as the Markdown tables print it: ``+0.0012 [+0.0003, ...]``."""
    return f"{row[column]:+.4f} [{row[column + '_low']:+.4f}, {row[column + '_high']:+.4f}]"
