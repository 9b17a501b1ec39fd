"""Modeling benchmark: LightGBM training + calibration on 100k synthetic rows shaped like the real training matrix.

The synthetic frame is widened with noise columns to the real soccer matrix's ~180 features, so the timing reflects
the real width. Each case runs in a fresh process so peak RSS is that case's own. Target: < 30 s on 2 cores.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from typing import Any

import numpy as np
import polars as pl

Row = dict[str, Any]
FEATURES = 180


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frame(rows: int) -> pl.DataFrame:
    from betpipe.modeling.synthetic import synthetic_matrix

    teams = 40
    per_season = teams * (teams - 1)
    frame = synthetic_matrix(seasons=-(-rows // per_season), teams=teams, seed=0).head(rows)
    have = sum(c.startswith("f_") for c in frame.columns)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(frame.height, max(FEATURES - have, 0)))
    return frame.with_columns(pl.Series(f"f_noise_{j}", noise[:, j]) for j in range(noise.shape[1]))


def _train_and_calibrate(rows: int) -> Row:
    """One fit on the earlier 80% of rows, calibration chosen and fitted on the later 20% (its predictions)."""
    from betpipe.modeling import GradientBoostingModel, labels_from_outcome
    from betpipe.modeling.calibration import Calibrator, choose_calibration

    frame = _frame(rows)
    y = labels_from_outcome(frame.get_column("outcome").to_numpy(), 3)
    cut = int(frame.height * 0.8)
    started = time.perf_counter()
    model = GradientBoostingModel().fit(frame[:cut], y[:cut])
    fitted = time.perf_counter() - started
    p = model.predict_proba(frame[cut:])
    method, _ = choose_calibration(p, y[cut:])
    Calibrator(method).fit(p, y[cut:])
    total = time.perf_counter() - started
    return {
        "benchmark": f"LightGBM train + calibration ({rows:,} rows x {len(model.features_)} features)",
        "seconds": total,
        "peak_rss_mb": _peak_mb(),
        "target": "< 30 s on 2 cores",
        "detail": f"fit {fitted:.1f} s on {cut:,} rows; calibration '{method}' chosen on {frame.height - cut:,}",
    }


def _calibrated_model(rows: int) -> Row:
    """The evaluation's CalibratedModel: 3 expanding season folds out of fold, then the final refit."""
    from betpipe.modeling import CalibratedModel, GradientBoostingModel, labels_from_outcome

    frame = _frame(rows)
    y = labels_from_outcome(frame.get_column("outcome").to_numpy(), 3)
    started = time.perf_counter()
    model = CalibratedModel(GradientBoostingModel()).fit(frame, y)
    return {
        "benchmark": f"CalibratedModel(gbm) fit with out-of-fold calibration ({rows:,} rows)",
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": _peak_mb(),
        "detail": f"method {model.method_}, {model.oof_rows_:,} out-of-fold rows, 4 LightGBM fits",
    }


def _in_child(function: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def run(quick: bool = False) -> list[Row]:
    rows = [_in_child(_train_and_calibrate, 20_000 if quick else 100_000)]
    if not quick:
        rows.append(_in_child(_calibrated_model, 100_000))
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
