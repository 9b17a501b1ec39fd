"""The market leg and the no-bet tally: one code path for the backtest and the live run.

Both hold an event's prices in a frame with one ``<prefix>_<outcome>`` column per outcome (the backtest's sharp
pre-match prices under ``sharp_pre``, the live run's under ``sharp``; consensus under ``cons``), so the strategy's
market leg is one call here whoever runs it: a copy per caller is how the live run once de-margined differently
from the backtest it was promoted from. Pure and vectorised: never reads a database or a clock, and never fills an
unpriced row (``market_fair_probabilities`` returns NaN for it, so the decision refuses it with a reason).

>>> import polars as pl
>>> frame = pl.DataFrame({"sharp_home": [2.0], "sharp_away": [2.0]})
>>> fair_market(frame, ("home", "away"), source="market", method="multiplicative", consensus_weight=0.0).tolist()
[[0.5, 0.5]]
>>> no_bet: dict[str, int] = {}
>>> count_no_bet(no_bet, "stale price", 2); count_no_bet(no_bet, "stale price", 0); no_bet
{'stale price': 2}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.betting.pricing import market_fair_probabilities

__all__ = ["CONSENSUS_PREFIX", "count_no_bet", "fair_market", "price_matrix", "uses_consensus"]

FloatArray = NDArray[np.float64]
CONSENSUS_PREFIX = "cons"


def price_matrix(frame: pl.DataFrame, prefix: str, names: Sequence[str]) -> FloatArray:
    """The ``prefix_<outcome>`` columns as an (events, outcomes) float matrix; a missing price is NaN."""
    matrix: FloatArray = frame.select([pl.col(f"{prefix}_{n}") for n in names]).to_numpy().astype(np.float64)
    return matrix


def uses_consensus(source: str, consensus_weight: float) -> bool:
    """A consensus enters only a strategy with a market leg (not ``model`` alone) and a weight above zero."""
    return source != "model" and consensus_weight > 0


def fair_market(
    frame: pl.DataFrame,
    names: Sequence[str],
    *,
    source: str,
    method: str,
    consensus_weight: float,
    sharp_prefix: str = "sharp",
) -> FloatArray:
    """The strategy's market leg per row: the sharp prices de-margined by ``method``, pooled with the consensus
    (``cons_*`` columns, read only when the strategy uses one) at ``consensus_weight``.

    Takes the strategy's own fields (``source``, ``market_method``, ``consensus_weight``: a ``StrategySpec`` and a
    ``BacktestSpec`` name the source ``source`` and ``strategy``), so the backtest and the live run cannot differ.
    """
    consensus = price_matrix(frame, CONSENSUS_PREFIX, names) if uses_consensus(source, consensus_weight) else None
    return market_fair_probabilities(
        price_matrix(frame, sharp_prefix, names),
        consensus,
        method=method,
        consensus_weight=consensus_weight if consensus is not None else 0.0,
    )


def count_no_bet(no_bet: dict[str, int], reason: str, n: int) -> None:
    """Adds ``n`` events or selections to ``reason`` in a no-bet tally (nothing for zero, so every reason shown
    left something unbet): the one tally the decision, the backtest and the live run's "why no bet" read."""
    if n:
        no_bet[reason] = no_bet.get(reason, 0) + int(n)
