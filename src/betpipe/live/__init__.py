"""The live run: the scheduler, its idempotent jobs (``stages``), model training and the betting run, in one package.

Below ``serving`` and ``cli``: the service may call ``opportunities`` (what the strategy would bet now), never the
other way round. Must never import ``serving``, ``cli`` or ``backtest`` (``tests/test_architecture.py`` checks), and
never read the wall clock (the caller's clock decides "now").

Only the betting surface is re-exported here, so that importing it does not pull in APScheduler or the estimators;
``betpipe.live.scheduler``, ``betpipe.live.stages`` and ``betpipe.live.training`` are imported by their module path.
"""

from betpipe.live.betting_run import BettingRun, betting_run
from betpipe.live.opportunities import (
    Opportunities,
    dry_run_checks,
    live_limits,
    live_strategy,
    live_strategy_spec,
    opportunities,
    why_no_bet,
)
from betpipe.live.prices import latest_prices, next_matchday_eve, scheduled_events

__all__ = [
    "BettingRun",
    "Opportunities",
    "betting_run",
    "dry_run_checks",
    "latest_prices",
    "live_limits",
    "live_strategy",
    "live_strategy_spec",
    "next_matchday_eve",
    "opportunities",
    "scheduled_events",
    "why_no_bet",
]
