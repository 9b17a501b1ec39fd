"""The model of the close on hand-made frames: the decision-time rule of its inputs, its prior, what it learns, and
its pickle-free artifact. Runs without the shared data (tests/test_close_model_leakage.py covers the real store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.features.close_inputs import close_inputs
from betpipe.modeling._base import BaseProbabilityModel
from betpipe.modeling.close_model import CloseModel

KICKOFF = datetime(2021, 3, 6, 15, 0, tzinfo=UTC)
OUTCOMES = ("home", "draw", "away")


def _quote(
    event: int, book: str, kind: str, at: datetime, prices: tuple[float, float, float]
) -> list[dict[str, object]]:
    return [
        {
            "event_id": event,
            "bookmaker": book,
            "is_aggregate": book.startswith("market_"),
            "market": "1x2",
            "selection": sel,
            "line": 0.0,
            "price": price,
            "kind": kind,
            "captured_at": at,
        }
        for sel, price in zip(OUTCOMES, prices, strict=True)
    ]


def _quotes(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(pl.col("captured_at").dt.replace_time_zone("UTC").dt.cast_time_unit("us"))


def test_inputs_are_each_books_latest_price_at_the_decision_never_later_never_closing() -> None:
    """The sharp book's first pre-match quote fixes the decision; a later quote, a closing quote and a quote at
    kickoff are not inputs, and an aggregate is kept apart under its own name."""
    decided = KICKOFF - timedelta(hours=20)
    rows = [
        *_quote(1, "pinnacle", "opening", decided, (2.0, 3.5, 4.0)),
        *_quote(1, "pinnacle", "opening", decided + timedelta(hours=5), (1.5, 4.0, 7.0)),  # after the decision
        *_quote(1, "bet365", "opening", decided - timedelta(hours=1), (2.1, 3.4, 3.8)),
        *_quote(1, "bet365", "opening", decided + timedelta(minutes=1), (9.0, 9.0, 1.05)),  # after the decision
        *_quote(1, "bet365", "closing", decided - timedelta(hours=2), (1.2, 6.0, 15.0)),  # a close: never an input
        *_quote(1, "market_avg", "opening", decided, (2.05, 3.45, 3.9)),
        *_quote(1, "williamhill", "opening", KICKOFF, (2.2, 3.3, 3.7)),  # at kickoff: not pre-match
    ]
    kickoffs = pl.DataFrame({"event_id": [1], "kickoff_utc": [KICKOFF]}).with_columns(
        pl.col("kickoff_utc").dt.cast_time_unit("us")
    )
    out = close_inputs(_quotes(rows), kickoffs).row(0, named=True)
    assert out["decided_at"] == decided
    assert out["hours_to_kickoff"] == pytest.approx(20.0)
    assert (out["c_ps_home"], out["c_ps_draw"], out["c_ps_away"]) == (2.0, 3.5, 4.0)
    assert (out["c_b365_home"], out["c_b365_draw"], out["c_b365_away"]) == (2.1, 3.4, 3.8)
    assert out["c_avg_home"] == 2.05
    assert np.isnan(out["c_wh_home"])


def _frame(n: int, seed: int) -> pl.DataFrame:
    """Pinnacle pre-match prices, a bet365 price, and a close that moves a third of the way toward bet365's view."""
    rng = np.random.default_rng(seed)
    p_pre = rng.dirichlet((4.0, 2.5, 3.0), size=n)
    p_soft = p_pre * np.exp(rng.normal(0.0, 0.08, size=(n, 3)))
    p_soft /= p_soft.sum(axis=1, keepdims=True)
    move = np.log(p_pre) + (np.log(p_soft) - np.log(p_pre)) / 3.0 + rng.normal(0.0, 0.02, size=(n, 3))
    p_close = np.exp(move) / np.exp(move).sum(axis=1, keepdims=True)
    kickoff = [KICKOFF + timedelta(days=i // 5) for i in range(n)]
    columns: dict[str, object] = {
        "event_id": np.arange(n),
        "competition": ["X"] * n,
        "season": ["2020-2021"] * n,
        "kickoff_utc": kickoff,
        "decided_at": [k - timedelta(hours=20) for k in kickoff],
        "hours_to_kickoff": np.full(n, 20.0),
    }
    for name, p, margin in (("c_ps", p_pre, 1.02), ("c_b365", p_soft, 1.06), ("bench_ps_close", p_close, 1.02)):
        for k, sel in enumerate(OUTCOMES):
            columns[f"{name}_{sel}"] = 1.0 / (p[:, k] * margin)
    return pl.DataFrame(columns)


def _cross_entropy(p: np.ndarray, frame: pl.DataFrame) -> float:
    close = 1.0 / frame.select([f"bench_ps_close_{s}" for s in OUTCOMES]).to_numpy()
    close /= close.sum(axis=1, keepdims=True)
    return float(-(close * np.log(p)).sum(axis=1).mean())


def test_it_learns_a_move_the_inputs_predict_and_a_strong_prior_keeps_the_pre_match_price() -> None:
    train, test = _frame(1500, 0), _frame(600, 1)
    zeros = np.zeros(train.height, dtype=np.int64)
    learnt = CloseModel(l2=1e-3).fit(train, zeros)
    naive = learnt.pre_match(test)
    close = 1.0 / test.select([f"bench_ps_close_{s}" for s in OUTCOMES]).to_numpy()
    gap = _cross_entropy(naive, test) - _cross_entropy(close / close.sum(axis=1, keepdims=True), test)
    gain = _cross_entropy(naive, test) - _cross_entropy(learnt.predict_proba(test), test)
    assert gain > 0.3 * gap > 0  # a third of the move is noise the inputs cannot see; most of the rest is learnt
    held = CloseModel(l2=1e6).fit(train, zeros)
    np.testing.assert_allclose(held.predict_proba(test), naive, atol=1e-4)


def test_predictions_never_read_the_close_and_survive_the_artifact_round_trip(tmp_path: Path) -> None:
    train, test = _frame(800, 2), _frame(200, 3)
    model = CloseModel().fit(train, np.zeros(train.height, dtype=np.int64))
    assert not any(str(c).startswith("bench_") for c in model.feature_names_in_)
    blind = test.drop([c for c in test.columns if c.startswith("bench_")])
    np.testing.assert_array_equal(model.predict_proba(blind), model.predict_proba(test))
    model.save_artifact(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = BaseProbabilityModel.load_artifact(tmp_path)
    assert isinstance(loaded, CloseModel)
    np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))
