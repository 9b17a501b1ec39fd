"""Strategies that list their markets (issue 18 item 3): O/U and Asian-handicap lines priced from one score grid,
graded as settlement grades them (quarter lines' half outcomes included), shopped across the strategy's books and
Kelly-sized per selection; strategies that list no markets keep their versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from betpipe.betting.markets import (
    best_line_prices,
    bet_payoffs,
    implied_grid,
    joint_kelly,
    line_kelly,
    line_probabilities,
    two_way_fair,
)
from betpipe.betting.strategy import decide, runtime_strategy
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, StrategySpec
from betpipe.modeling.score_grid import ScoreGrid, dixon_coles_grid
from betpipe.sports import grade_selection, profit_per_unit

NOW = datetime(2024, 1, 6, 12, tzinfo=UTC)
KICKOFF = NOW + timedelta(hours=3)


def _oracle_edge(grid: ScoreGrid, market: str, selection: str, line: float, price: float) -> float:
    """Expected profit of a unit stake, score by score, as settlement would pay it (an independent path)."""
    p = grid.probabilities[0]
    return sum(
        float(p[h, a]) * float(profit_per_unit(grade_selection(market, selection, line, h, a), Decimal(str(price))))
        for h in range(p.shape[0])
        for a in range(p.shape[1])
    )


@pytest.mark.parametrize(
    ("market", "selection", "line"),
    [
        ("total", "over", 2.25),
        ("total", "under", 2.75),
        ("asian_handicap", "home", -0.25),
        ("asian_handicap", "away", 0.5),
    ],
)
def test_a_lines_edge_is_the_sum_over_settlement_grades_and_its_kelly_stake_maximises_log_growth(
    market: str, selection: str, line: float
) -> None:
    grid = dixon_coles_grid([1.6], [1.05], 0.05, max_goals=12)
    lp = line_probabilities(grid, market, selection, np.array([line]))
    price = 2.3
    assert float(lp.expected_profit(price)[0]) == pytest.approx(
        _oracle_edge(grid, market, selection, line, price), abs=1e-9
    )
    f = float(line_kelly(lp, np.array([price]))[0])
    payoff = np.array([price - 1, (price - 1) / 2, 0.0, -0.5, -1.0])
    probs = np.array([lp.won[0], lp.half_won[0], lp.void[0], lp.half_lost[0], lp.lost[0]])
    growth = [float(probs @ np.log1p(x * payoff)) for x in np.linspace(0, 0.95, 9501)]
    best = float(np.linspace(0, 0.95, 9501)[int(np.argmax(growth))])
    if probs @ payoff > 0:
        assert f == pytest.approx(best, abs=2e-4)
    else:
        assert f == 0.0


def test_line_kelly_reduces_to_the_two_way_and_push_formulas() -> None:
    grid = dixon_coles_grid([1.4], [1.2])
    half = line_probabilities(grid, "total", "over", np.array([2.5]))
    p = float(half.won[0])
    assert float(line_kelly(half, np.array([2.2]))[0]) == pytest.approx((p * 2.2 - 1) / 1.2, abs=1e-12)
    whole = line_probabilities(grid, "asian_handicap", "home", np.array([0.0]))
    w, lo = float(whole.won[0]), float(whole.lost[0])
    assert float(line_kelly(whole, np.array([2.1]))[0]) == pytest.approx((w * 1.1 - lo) / (1.1 * (w + lo)), abs=1e-12)


def test_the_implied_grid_reproduces_the_fair_prices_it_was_fitted_to() -> None:
    p1x2 = np.array([[0.48, 0.26, 0.26], [0.30, 0.28, 0.42]])
    over = two_way_fair([[1.90, 2.00], [2.10, 1.80]])[:, 0]
    grid = implied_grid(p1x2, over)
    assert np.abs(grid.one_x_two() - p1x2).max() < 1e-6
    assert np.abs(grid.totals(2.5).no_push_probability - over).max() < 1e-6
    unfit = implied_grid(np.array([[np.nan, np.nan, np.nan]]), np.array([np.nan]))
    assert np.isnan(unfit.totals(2.5).won).all()


def test_markets_are_listed_on_the_strategy_and_unlisted_ones_keep_its_version() -> None:
    assert "markets" not in DEFAULT_STRATEGY.to_json()
    lines = StrategySpec(markets=("1x2", "total", "asian_handicap"))
    assert lines.version != DEFAULT_STRATEGY.version
    assert StrategySpec.from_json(lines.to_json()) == lines
    assert lines.name.endswith("|markets=1x2+total+asian_handicap")
    assert StrategySpec(markets=["1x2"]).version == DEFAULT_STRATEGY.version  # type: ignore[arg-type]
    assert StrategySpec(sport="american_football").markets == ("1x2",)  # the default: the sport's result market
    for bad in ((), ("total", "total"), ("btts",), ("spread",)):
        with pytest.raises(ValueError, match="market"):
            StrategySpec(markets=bad)
    only = runtime_strategy(StrategySpec(markets=("total",)))
    assert (only.result_market, only.line_markets) == (False, ("total",))


def _events() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [7],
            "competition": ["E0"],
            "kickoff_utc": [KICKOFF],
            "decided_at": [NOW - timedelta(hours=1)],
            "book_home": [2.05],
            "book_draw": [3.6],
            "book_away": [3.9],
        }
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us"))


def _line_quotes(rows: list[tuple[str, float, str, float, str, timedelta]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(7, "E0", KICKOFF, NOW - ago, m, ln, s, pr, b) for m, ln, s, pr, b, ago in rows],
        schema=["event_id", "competition", "kickoff_utc", "decided_at", "market", "line", "selection", "price", "book"],
        orient="row",
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us"))


def test_best_line_prices_take_the_best_book_per_line_and_side_ties_to_the_first_book() -> None:
    hour = timedelta(hours=1)
    quotes = _line_quotes(
        [
            ("total", 2.5, "over", 2.00, "bet365", hour),
            ("total", 2.5, "over", 2.10, "vcbet", hour),
            ("total", 2.5, "under", 1.80, "bet365", hour),
            ("total", 2.5, "under", 1.80, "vcbet", hour),
            ("total", 2.5, "over", 2.50, "market_max", hour),
        ]
    )
    best = best_line_prices(quotes, ("bet365", "vcbet"))
    assert best.select("selection", "price", "book").rows() == [("over", 2.10, "vcbet"), ("under", 1.80, "bet365")]


def test_decide_bets_the_best_line_of_each_listed_market_at_its_exact_edge() -> None:
    """A strategy listing O/U and AH (not 1X2) gets one bet per event and market: the largest exact edge among
    the lines and sides quoted; a price captured after now or one stale beyond the price age is counted, not bet."""
    grid = dixon_coles_grid([1.7], [1.0], max_goals=12)
    hour = timedelta(hours=1)
    lines = best_line_prices(
        _line_quotes(
            [
                ("total", 2.5, "over", 2.20, "bet365", hour),
                ("total", 2.5, "under", 1.75, "bet365", hour),
                ("total", 2.75, "over", 2.45, "vcbet", hour),
                ("total", 2.75, "under", 1.60, "vcbet", hour),
                ("asian_handicap", -0.25, "home", 2.00, "bet365", hour),
                ("asian_handicap", -0.25, "away", 1.85, "bet365", hour),
                ("asian_handicap", -0.75, "home", 2.60, "vcbet", -hour),  # captured after now
                ("total", 3.5, "over", 9.00, "vcbet", timedelta(hours=200)),  # stale
            ]
        ),
        ("bet365", "vcbet"),
    )
    spec = StrategySpec(markets=("total", "asian_handicap"), books=("bet365", "vcbet"), min_edge=0.01)
    decision = decide(
        _events(), strategy=runtime_strategy(spec), bankroll=Decimal("1000"), now=NOW, market_p=[[0.5, 0.25, 0.25]],
        max_price_age=timedelta(hours=96), lines=lines, grid=grid,
    )  # fmt: skip
    bets = {(c.market, c.selection, c.line, c.book): c for c in decision.candidates}
    edges = {
        (m, s, ln): _oracle_edge(grid, m, s, ln, pr)
        for m, ln, s, pr in [
            ("total", 2.5, "over", 2.2),
            ("total", 2.75, "over", 2.45),
            ("asian_handicap", -0.25, "home", 2.0),
        ]
    }
    best_total = max((k for k in edges if k[0] == "total"), key=edges.__getitem__)
    assert set(bets) == {
        (*best_total, "vcbet" if best_total[2] == 2.75 else "bet365"),
        ("asian_handicap", "home", -0.25, "bet365"),
    }
    bets = [(c.market, c.selection, c.line, float(c.price)) for c in decision.candidates]
    joint = joint_kelly(bet_payoffs(12, bets), grid.probabilities[0].reshape(-1)) * 0.25
    for c, f in zip(decision.candidates, joint, strict=True):
        assert c.edge == pytest.approx(edges[(c.market, c.selection, c.line)], abs=1e-9)
        assert c.stake == Decimal(int(f * 1000 * 100)) / 100  # one event's two markets: Kelly sized jointly
        assert c.decision_time == NOW - hour
    assert decision.no_bet["price captured after the decision instant"] == 1
    assert decision.no_bet["stale price: older than 4 days, 0:00:00"] == 1
    assert not any(c.market == "1x2" for c in decision.candidates)


def test_an_event_without_a_fitted_grid_is_refused_with_a_reason() -> None:
    nan_grid = ScoreGrid(np.full((1, 11, 11), np.nan))
    lines = _line_quotes([("total", 2.5, "over", 2.2, "bet365", timedelta(hours=1))])
    spec = StrategySpec(markets=("total",), books=("bet365",))
    decision = decide(
        _events(), strategy=runtime_strategy(spec), bankroll=Decimal("1000"), now=NOW, lines=lines, grid=nan_grid
    )
    assert decision.candidates == []
    assert decision.no_bet == {"line sizing: invalid_probability": 1}


def test_the_same_bet_in_two_markets_is_one_kelly_position() -> None:
    """1X2 home and AH home -0.5 win and lose on the same scores: at one price, decide's joint sizing stakes the two
    together what one alone would (each alone would take the full Kelly stake: twice the position)."""
    grid = dixon_coles_grid([1.7], [1.0], max_goals=10)
    p_home = float(grid.one_x_two()[0, 0])
    events = _events().with_columns(pl.lit(2.3).alias("book_home"))
    lines = _line_quotes(
        [
            ("asian_handicap", -0.5, "home", 2.3, "bet365", timedelta(hours=1)),
            ("asian_handicap", -0.5, "away", 1.5, "bet365", timedelta(hours=1)),
        ]
    )
    spec = StrategySpec(markets=("1x2", "asian_handicap"), books=("bet365",), staking="kelly:0.5")
    decision = decide(
        events, strategy=runtime_strategy(spec), bankroll=Decimal("10000"), now=NOW,
        market_p=grid.one_x_two(), lines=lines, grid=grid,
    )  # fmt: skip
    assert {(c.market, c.selection) for c in decision.candidates} == {("1x2", "home"), ("asian_handicap", "home")}
    alone = (p_home * 2.3 - 1) / 1.3 * 0.5 * 10000
    total = sum(float(c.stake) for c in decision.candidates)
    assert total == pytest.approx(alone, abs=0.03)
    assert decision.no_bet["joint sizing across markets: stake changed"] == 2
