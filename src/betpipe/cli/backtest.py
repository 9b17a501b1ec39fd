"""``betpipe backtest``: a walk-forward backtest of one or more strategies on the stored history, on Dask.

Thin: parses options into ``BacktestSpec``s, calls ``betpipe.backtest.run_many`` + ``write_reports``, prints the
summary table and where the JSON and HTML reports are. Never computes a figure itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from betpipe.cli._common import console, fail_clearly, open_engine, settings
from betpipe.cli._errors import STATE, USAGE, CliError

if TYPE_CHECKING:
    from betpipe.backtest import BacktestSpec
    from betpipe.backtest.runner import StrategyReport
    from betpipe.betting.strategy_spec import StrategySpec
    from betpipe.config import Settings


def _ci(value: dict[str, float] | None, scale: float = 100.0) -> str:
    if value is None:
        return "-"
    return f"{value['mean'] * scale:+.2f} [{value['low'] * scale:+.2f}, {value['high'] * scale:+.2f}]"


def _strategies_from(path: Path) -> list[StrategySpec]:
    from betpipe.betting.strategy_spec import StrategySpec

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a JSON strategy file ({error})") from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ValueError(f"{path}: an empty list of strategies")
    return [StrategySpec.from_json(item) for item in items]


def _store(reports: list[StrategyReport], specs: list[BacktestSpec], config: Settings, *, each: bool = True) -> None:
    """Each strategy with its lineage: data span, report hash and headline figures (``betpipe strategy list``); a
    grid says so in one line rather than one per strategy."""
    from betpipe.registry.strategies import store_strategy

    by_name = {s.name: s for s in specs}
    with open_engine(config) as engine:
        for report in reports:
            spec = by_name[report.name]
            lineage = {
                "backtest": spec.run_id,
                "data": {"sport": spec.sport, "competitions": list(spec.competitions), "sharp_book": spec.sharp_book},
                "seasons": f"{spec.first_season}..{spec.last_season}",
                "report_sha256": hashlib.sha256(report.json_path.read_bytes()).hexdigest(),
                "headline": {k: report.summary[k] for k in ("bets", "mean_clv", "roi", "yield", "clv_positive_share")},
            }
            stored = store_strategy(engine, spec.strategy_spec(), lineage=lineage)
            if each:
                console.print(f"{report.name}: stored as strategy id {stored.id} version {stored.version}")
    if not each:
        console.print(f"{len(reports)} strategies stored with their lineage (`betpipe strategy list`)")


def backtest(
    competition: list[str] = typer.Option(..., "--competition", "-c", help="Competition code(s), e.g. E0; repeat."),
    first: str = typer.Option(..., "--from", help="First season, e.g. 2015-2016."),
    last: str = typer.Option(..., "--to", help="Last season, e.g. 2022-2023."),
    book: list[str] = typer.Option(
        [],
        "--book",
        help="Book(s) to bet at, best price per selection; repeat [default: bet365, betandwin, "
        "interwetten, williamhill, vcbet]. Never an aggregate.",
    ),
    sharp_book: str = typer.Option("pinnacle", help="Sharp book: market leg (pre-match) and CLV benchmark (close)."),
    staking: str = typer.Option("kelly:0.25", help="Staking policy, e.g. kelly:0.25, 'flat:1,simultaneous'."),
    strategy: list[str] = typer.Option(["market"], help="model | market | blend; repeat to compare strategies."),
    model: str = typer.Option("elo_logit", help="Model refitted walk-forward (elo_logit, gbm, dixon_coles, ...)."),
    market_weight: float = typer.Option(0.5, help="Blend: weight on the market in the log-linear pool."),
    market_method: str = typer.Option(
        "multiplicative", help="Margin removal of the sharp pre-match price: multiplicative, shin, power, odds_ratio."
    ),
    consensus_weight: float = typer.Option(
        0.0, help="Weight of the margin-free market-average consensus (an input only, never a price) in the market leg."
    ),
    refit_days: float = typer.Option(30.0, help="Refit the model on the past every this many days (up to 36600)."),
    min_edge: float = typer.Option(0.02, help="Bet only when p x price - 1 exceeds this."),
    out: Path = typer.Option(Path("backtest-report"), help="Directory for JSON, HTML and per-run ledgers."),
    scheduler: str | None = typer.Option(None, help="Address of an existing Dask scheduler (default: a local one)."),
    in_process: bool = typer.Option(False, "--in-process", help="Run in this process, without Dask."),
    seed: int = typer.Option(0, help="Seed of the paper book and the models."),
    sport: str = typer.Option("soccer", help="Sport of the competitions."),
    strategy_file: Path | None = typer.Option(
        None,
        "--strategy-file",
        help="JSON: one strategy object or a list of them; replaces the strategy options above.",
    ),
    grid: Path | None = typer.Option(
        None,
        "--grid",
        help="TOML or JSON grid (base strategy x axes, and/or variants; docs/backtest.md): one table ranked on the "
        "tuning seasons, with the untouched seasons beside and a verdict adjusted for the strategies tried.",
    ),
    untouched_from: str = typer.Option(
        "2016-2017", help="Grid: first untouched season; earlier seasons tune (rank), later ones only report."
    ),
    store: bool = typer.Option(True, help="Store each strategy run with its lineage (`betpipe strategy list`)."),
) -> None:
    """Walk-forward backtest, one account per strategy over all competitions, at the best pre-match price among the
    books; CLV against the sharp book's margin-free close. Each strategy is stored with its lineage."""
    from betpipe.backtest import BacktestSpec, run_many, write_reports
    from betpipe.backtest.checks import BacktestInputError, why_no_bets
    from betpipe.backtest.runner import SchedulerUnavailableError
    from betpipe.betting.strategy_spec import DEFAULT_STRATEGY
    from betpipe.cli.backtest_output import print_grid, print_verdicts, run_progress

    try:
        if grid is not None and strategy_file is not None:
            raise ValueError("give --grid or --strategy-file, not both")
        if grid is not None:
            from betpipe.backtest.grid import load_grid, split_seasons

            split_seasons(first, last, untouched_from)
            specs = [
                BacktestSpec.of(s, tuple(competition), first, last, refit_days=refit_days, seed=seed)
                for s in load_grid(grid)
            ]
        elif strategy_file is not None:
            specs = [
                BacktestSpec.of(s, tuple(competition), first, last, refit_days=refit_days, seed=seed)
                for s in _strategies_from(strategy_file)
            ]
        else:
            specs = [
                BacktestSpec(
                    competitions=tuple(competition), first_season=first, last_season=last, sport=sport,
                    books=tuple(book) or DEFAULT_STRATEGY.books, sharp_book=sharp_book, strategy=name, model=model,  # type: ignore[arg-type]
                    staking=staking, min_edge=min_edge, market_weight=market_weight, market_method=market_method,
                    consensus_weight=consensus_weight, refit_days=refit_days, seed=seed,
                )
                for name in strategy
            ]  # fmt: skip
    except (ValueError, TypeError) as error:  # an option out of range: the command line is wrong
        raise CliError(str(error), exit_code=USAGE) from None
    config = settings()
    with open_engine(config):  # the store must exist at the current schema; never creates a file
        pass
    try:
        with run_progress(specs) as (on_step, on_result):
            results = run_many(
                specs, settings=config, out_dir=out, executor="inprocess" if in_process else "local",
                scheduler=scheduler, on_step=on_step, on_result=on_result, reports=grid is not None,
            )  # fmt: skip
    except BacktestInputError as error:  # a competition, season range or book the store does not have
        raise CliError(str(error), exit_code=USAGE) from None
    except SchedulerUnavailableError as error:
        raise CliError(str(error), exit_code=STATE) from None
    verdict = why_no_bets(results)
    if verdict is not None and not verdict[1]:  # nothing could be priced: no report of an empty run
        raise CliError(verdict[0], exit_code=STATE)
    with fail_clearly(ValueError, LookupError):
        reports = write_reports(results, out_dir=out, paired=grid is None)  # a grid's reports come built
    if store:
        _store(reports, specs, config, each=grid is None)
    if grid is not None:
        with fail_clearly(ValueError, LookupError):
            print_grid(reports, specs, out_dir=out, untouched_from=untouched_from)
    else:
        _print_summary(reports, title=f"backtest {', '.join(competition)} {first}..{last} (one account per strategy)")
        print_verdicts(reports)
        for report in reports:
            console.print(f"{report.name}: HTML report {report.html_path}  JSON {report.json_path}")
    if verdict is not None:
        console.print(verdict[0])


def _print_summary(reports: list[StrategyReport], *, title: str) -> None:
    table = Table(title=title)
    for column in ("strategy", "bets", "turnover", "yield %", "ROI %", "mean CLV %", "CLV>0", "max DD", "hit"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for report in reports:
        s = report.summary
        table.add_row(
            report.name, str(s["bets"]), f"{s['turnover']:.2f}", _ci(s["yield"]), _ci(s["roi"]), _ci(s["mean_clv"]),
            "-" if s["clv_positive_share"] is None else f"{s['clv_positive_share']:.1%}",
            f"{s['max_drawdown']:.1%}", "-" if s["hit_rate"] is None else f"{s['hit_rate']:.1%}",
        )  # fmt: skip
    console.print(table)
