"""Rerun the NFL line distributions' hyper-parameter choice on 1999-2005, the seasons no scored row belongs to.

Usage::

    python scripts/tune_nfl_lines.py ../shared/data/nflverse/games.csv

Reads only games of 1999-2005 (the evaluation scores 2006 on). The points ratings' step, season regression and error
cap are chosen by the mean squared error of margin + total on 2001-2005 (1999-2000 are burn-in); the key-number
shape's pseudo-count by the margin log-likelihood of the close-centred distribution on the same seasons. Prints both
grids. The frozen defaults (``RatingParams``, ``nfl_distributions``) sit on the flat optimum: step 0.06, regression
0.33; cap 24 and pseudo-count 5, the more conservative neighbours of the marginal best (40 and 2: 0.07 MSE and 0.0003
log loss better, well within noise).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import polars as pl

from betpipe.modeling.nfl_line_eval import load_nfl_games
from betpipe.modeling.nfl_lines import (
    MARGIN_FIRST,
    MARGIN_SIZE,
    RatingParams,
    key_number_distribution,
    walk_forward_means,
)

LAST_TUNING_SEASON, FIRST_SCORED = 2005, 2001


def main(path: Path) -> None:
    games = load_nfl_games(path).filter(pl.col("season") <= LAST_TUNING_SEASON)
    kick = games["kickoff_utc"].dt.epoch("s").cast(pl.Float64).to_numpy()
    known = games["known_at"].dt.epoch("s").cast(pl.Float64).to_numpy()
    hs = games["home_score"].cast(pl.Float64).to_numpy()
    as_ = games["away_score"].cast(pl.Float64).to_numpy()
    scored = (games["season"] >= FIRST_SCORED).to_numpy()
    rows = []
    for k, reversion, cap in itertools.product((0.04, 0.06, 0.08, 0.1, 0.13), (0.2, 0.33, 0.5, 0.7), (14, 24, 40)):
        margin, total = walk_forward_means(
            games["home_team_id"].to_numpy(),
            games["away_team_id"].to_numpy(),
            games["season"].to_numpy(),
            hs,
            as_,
            kick,
            known,
            neutral=games["neutral"].to_numpy(),
            params=RatingParams(k=k, reversion=reversion, cap=cap),
        )
        mse_margin = float(np.mean(((hs - as_) - margin)[scored] ** 2))
        mse_total = float(np.mean(((hs + as_) - total)[scored] ** 2))
        rows.append((mse_margin + mse_total, mse_margin, mse_total, k, reversion, cap))
    print("| MSE margin + total | margin | total | k | reversion | cap |\n|---|---|---|---|---|---|")
    for row in sorted(rows)[:10]:
        print("| {:.2f} | {:.2f} | {:.2f} | {} | {} | {} |".format(*row))
    margin = (hs - as_).astype(np.int64)
    print("\n| shape pseudo-count | margin log loss (close-centred) |\n|---|---|")
    for prior in (2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1e12):
        dist = key_number_distribution(
            games["spread_line"].to_numpy(),
            hs - as_,
            kick,
            known,
            first=MARGIN_FIRST,
            size=MARGIN_SIZE,
            shape_prior=prior,
            symmetric=True,
        )
        loss = -np.log(dist.pmf[np.arange(margin.size), margin - MARGIN_FIRST])
        print(f"| {prior:g} | {float(loss[scored].mean()):.4f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/tune_nfl_lines.py <nflverse games.csv>")
    main(Path(sys.argv[1]))
