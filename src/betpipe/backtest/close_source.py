"""The model of the close as a strategy's fair-probability source in the backtest (``model="close_model"``): for every
target of a run, the predicted margin-free Pinnacle close at the target's own decision instant, refitted walk-forward
(``modeling.close_walkforward``) under the one time rule for its labels.

The history (every event of the run's competitions with its sharp pre-match and closing prices) trains; the targets
are priced with inputs as known at their decision instant (``features.close_rows.target_frame``: every book's
pre-match price captured at or before it, Elo as of it from the backtest's ``decision_features``). A target's close
is never an input, and a match's close trains a forecast only once that match kicked off before the refit block
began. A target the model cannot price (no fit yet, no sharp pre-match price at its decision) gets NaN and a counted
reason: never the pre-match price as a silent fallback (that would be another strategy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.backtest.checks import BacktestInputError
from betpipe.config import Settings
from betpipe.features.close_inputs import load_prematch_quotes
from betpipe.features.close_rows import has_sharp_price, history_frame, labelled_rows, target_frame
from betpipe.modeling._base import FloatArray
from betpipe.modeling.close_model import MIN_TRAIN_ROWS, CloseModel
from betpipe.modeling.close_walkforward import walk_forward_close

__all__ = ["CLOSE_MODEL", "DEFAULT_L2", "CloseSource", "close_source"]

CLOSE_MODEL = "close_model"
DEFAULT_L2 = 0.1  # frozen on the tuning seasons 2013-14 .. 2015-16 (backtest.close_judge.DEFAULT_L2)
NO_FIT = "close model: fewer than 300 labelled closes kicked off before the decision"
NO_SHARP = "close model: no sharp pre-match price known at the decision"


@dataclass(frozen=True)
class CloseSource:
    """Per target row: the predicted close (NaN where unpriced), with what the walk-forward did."""

    probabilities: FloatArray
    fits: int
    no_bet: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0


def close_source(
    engine: Engine,
    settings: Settings,
    *,
    targets: pl.DataFrame,
    features: pl.DataFrame,
    competitions: Sequence[str],
    sport: str,
    method: str,
    refit_days: float,
) -> CloseSource:
    """The predicted close for every row of ``targets`` (event_id, competition, kickoff_utc, decided_at), in order.

    ``features`` are the targets' model features at their decision instants (``decision_features``: Elo as of then).
    Raises ``BacktestInputError`` (one line) when the store cannot train the model at all."""
    if sport != "soccer":
        raise BacktestInputError(f"close_model prices soccer 1X2 only, not {sport}")
    if targets.height == 0:
        return CloseSource(np.empty((0, 3)), 0)
    quotes = load_prematch_quotes(engine, "soccer")
    try:
        history = history_frame(engine, settings, competitions, quotes)
    except ValueError as error:
        raise BacktestInputError(str(error)) from None
    labelled = int(labelled_rows(history).sum())
    if labelled < MIN_TRAIN_ROWS:
        raise BacktestInputError(
            f"close_model needs {MIN_TRAIN_ROWS} matches with sharp closing prices to train; the store has "
            f"{labelled} in {', '.join(competitions)}"
        )
    target = target_frame(targets.select("event_id", "competition", "kickoff_utc", "decided_at"), features, quotes)
    frame = pl.concat([history, target], how="vertical")
    mask = np.r_[np.zeros(history.height, dtype=bool), np.ones(target.height, dtype=bool)]
    walk = walk_forward_close(
        frame, mask, build=lambda: CloseModel(method=method, l2=DEFAULT_L2), refit_days=refit_days
    )
    p = np.array(walk.probabilities, dtype=np.float64)
    no_sharp = ~has_sharp_price(target).to_numpy()
    no_fit = walk.prior_rows & ~no_sharp
    p[walk.prior_rows | no_sharp] = np.nan
    no_bet = {k: int(v) for k, v in ((NO_FIT, no_fit.sum()), (NO_SHARP, no_sharp.sum())) if v}
    return CloseSource(p, len(walk.fits), no_bet, walk.cpu_seconds)
