"""The live run's grid inputs (``live.prices.sharp_grid_inputs``): the sharp book's O/U 2.5 and main AH known at each
row's decision instant, as the backtest takes them, so the live grid is the backtest's grid (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from betpipe.betting.markets import implied_grid
from betpipe.live.prices import sharp_grid_inputs

T0 = datetime(2025, 3, 20, 12, tzinfo=UTC)


def _quote(
    event: int, hours: float, market: str, line: float, selection: str, price: float, book: str = "sharp"
) -> dict[str, object]:
    return {
        "event_id": event, "competition": "E0", "kickoff_utc": T0 + timedelta(days=2),
        "decided_at": T0 + timedelta(hours=hours), "market": market, "line": line, "selection": selection,
        "price": price, "book": book,
    }  # fmt: skip


def test_only_quotes_known_and_fresh_at_the_decision_count_and_the_main_line_is_chosen() -> None:
    quotes = pl.DataFrame(
        [
            _quote(1, -2, "total", 2.5, "over", 1.90), _quote(1, -2, "total", 2.5, "under", 2.00),
            _quote(1, -1, "total", 2.5, "over", 2.10), _quote(1, -1, "total", 2.5, "under", 1.80),  # the latest
            _quote(1, 1, "total", 2.5, "over", 1.50), _quote(1, 1, "total", 2.5, "under", 2.70),  # after: unknown
            _quote(1, -1, "asian_handicap", -0.5, "home", 1.80), _quote(1, -1, "asian_handicap", -0.5, "away", 2.10),
            _quote(1, -1, "asian_handicap", -1.0, "home", 2.05), _quote(1, -1, "asian_handicap", -1.0, "away", 1.85),
            _quote(1, -1, "asian_handicap", -0.75, "home", 1.95), _quote(1, -1, "asian_handicap", -0.75, "away", 1.95),
            _quote(1, -1, "total", 2.5, "over", 1.01, "soft"), _quote(1, -1, "total", 2.5, "under", 9.0, "soft"),
            _quote(2, -30, "total", 2.5, "over", 1.90), _quote(2, -30, "total", 2.5, "under", 1.90),  # stale
        ]
    )  # fmt: skip
    frame = pl.DataFrame({"event_id": [2, 1, 3], "decided_at": [T0, T0, T0]})
    p_over, ah_line, p_ah = sharp_grid_inputs(
        quotes, frame, sharp_book="sharp", method="multiplicative", max_age=timedelta(hours=24)
    )
    assert np.isnan(p_over[0])
    assert np.isnan(ah_line[0])
    assert p_over[1] == (1 / 2.10) / (1 / 2.10 + 1 / 1.80)
    assert ah_line[1] == -0.75  # the quarter line at 1.95 / 1.95 is even: nearer 1/2 than -1 (0.474) and -0.5
    assert p_ah[1] == 0.5
    assert np.isnan([p_over[2], ah_line[2], p_ah[2]]).all()
    p1x2 = np.array([[0.45, 0.27, 0.28]] * 3)
    with_ah = implied_grid(p1x2, p_over, ah_line=ah_line, p_ah_home=p_ah)
    without = implied_grid(p1x2, p_over)
    assert np.array_equal(with_ah.probabilities[[0, 2]], without.probabilities[[0, 2]], equal_nan=True)
    assert not np.array_equal(with_ah.probabilities[1], without.probabilities[1])
