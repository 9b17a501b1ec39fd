"""Walk-forward backtests on historical odds that run the live money path (pricing, sizing, risk, book, ledger) with
a simulated clock and a paper book. Public surface only; never bets at an aggregate price or a price not yet known.
"""

from betpipe.backtest.data import AggregateBookError, decision_features, load_prices
from betpipe.backtest.report import (
    Interval,
    StrategySummary,
    equal_count_clv_difference,
    paired_clv_difference,
    summarise,
)
from betpipe.backtest.runner import StrategyReport, run_many, write_reports
from betpipe.backtest.simulate import RunResult, run
from betpipe.backtest.spec import CONSENSUS_BOOKS, MARKET_METHODS, MODELS, STRATEGIES, UNCAPPED_LIMITS, BacktestSpec

__all__ = [
    "CONSENSUS_BOOKS",
    "MARKET_METHODS",
    "MODELS",
    "STRATEGIES",
    "UNCAPPED_LIMITS",
    "AggregateBookError",
    "BacktestSpec",
    "Interval",
    "RunResult",
    "StrategyReport",
    "StrategySummary",
    "decision_features",
    "equal_count_clv_difference",
    "load_prices",
    "paired_clv_difference",
    "run",
    "run_many",
    "summarise",
    "write_reports",
]
