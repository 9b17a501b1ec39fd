"""What ``betpipe backtest`` shows: progress bars while runs execute, the verdict table of each report, and the grid
table with its tuning/untouched split and adjusted verdict.

Bars go to stderr and only to a terminal (``progress_display``): a piped run prints the answer and nothing else.
Never computes a figure: the verdicts come from ``backtest.verdict`` and ``backtest.grid``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from betpipe.cli._common import console, error_console

if TYPE_CHECKING:
    from betpipe.backtest import BacktestSpec
    from betpipe.backtest.runner import ResultCallback, StepCallback, StrategyReport

__all__ = ["print_grid", "print_verdicts", "run_progress"]


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


@contextmanager
def run_progress(specs: Sequence[BacktestSpec]) -> Iterator[tuple[StepCallback | None, ResultCallback | None]]:
    """One bar over the runs (done / total, ETA) and one per run in flight (its decision steps, ETA).

    Off the terminal there are no bars and no callbacks, so a piped or scripted run costs nothing for them."""
    if not error_console.is_terminal:
        yield None, None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    names = {spec.run_id: spec.name for spec in specs}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
    ) as bars:
        overall = bars.add_task(f"backtest runs ({len(names)})", total=len(names))
        running: dict[str, Any] = {}

        def on_step(run_id: str, done: int, total: int) -> None:
            if run_id not in running:  # a run just started: shown at once, not at the next refresh tick
                running[run_id] = bars.add_task(f"  {_short(names.get(run_id, run_id))} steps", total=total)
                bars.update(running[run_id], completed=done, total=total, refresh=True)
                return
            bars.update(running[run_id], completed=done, total=total)

        def on_result(result: dict[str, Any]) -> None:
            task = running.pop(str(result["run_id"]), None)
            if task is not None:
                bars.remove_task(task)
            bars.advance(overall)

        yield on_step, on_result


def _pct(interval: dict[str, float] | None) -> str:
    if interval is None:
        return "-"
    return f"{interval['mean'] * 100:+.2f} [{interval['low'] * 100:+.2f}, {interval['high'] * 100:+.2f}]"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_verdicts(reports: Sequence[StrategyReport]) -> None:
    """Each report's verdict (JSON ``verdict``): CLV CI, bets needed to detect it, without the top 1 %, Shin close."""
    table = Table(title="verdict (CLV in %, 95% CI)")
    for column in ("strategy", "CLV bets", "mean CLV", "bets to detect", "without top 1 %", "vs Shin close"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for report in reports:
        v = json.loads(report.json_path.read_text())["verdict"]
        table.add_row(
            report.name, _count(v["clv_bets"]), _pct(v["mean_clv"]), _count(v["bets_to_detect_95"]),
            _pct(v["without_top_1pct"]["mean_clv"]), _pct(v["mean_clv_shin_close"]),
        )  # fmt: skip
    console.print(table)


def grid_table(document: dict[str, Any]) -> Table:
    """The grid's one table: ranked by the tuning t, the untouched seasons beside; the method in the footer."""
    meta = document["grid"]
    table = Table(
        title=f"grid of {meta['strategies']} strategies, {', '.join(meta['competitions'])}: "
        f"tuning {meta['tuning']} | untouched {meta['untouched']} (CLV in %, 95% CI)",
        caption=f"Ranked by the tuning t = mean CLV / its bootstrap SE. adj. p: {meta['adjustment_short']}.",
        caption_justify="left",
    )
    columns = ("#", "strategy", "tune bets", "tune CLV", "t", "adj. p", "untouched bets", "untouched CLV")
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for row in document["strategies"]:
        tuning, untouched = row["tuning"], row["untouched"]
        t, p = tuning["t"], tuning["p_adjusted"]
        table.add_row(
            str(row["rank"]), row["strategy"], _count(tuning["clv_bets"]), _pct(tuning["mean_clv"]),
            "-" if t is None else f"{t:.2f}", "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}"),
            _count(untouched["clv_bets"]), _pct(untouched["mean_clv"]),
        )  # fmt: skip
    return table


def print_grid(
    reports: Sequence[StrategyReport],
    specs: Sequence[BacktestSpec],
    *,
    out_dir: Path,
    untouched_from: str,
    echo: Callable[[Any], None] | None = None,
) -> Path:
    """Write ``grid.json`` beside the reports and print its table, the adjusted verdict and where everything is."""
    from betpipe.backtest.grid import grid_document

    by_name = {spec.name: spec for spec in specs}
    document = grid_document(
        {r.name: r.bets for r in reports}, {r.name: by_name[r.name] for r in reports}, untouched_from=untouched_from
    )
    path = out_dir / "grid.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    show = echo or console.print
    show(grid_table(document))
    show(f"Verdict: {document['verdict']['text']}")
    show(f"Grid JSON {path}; one JSON + HTML report per strategy in {out_dir}")
    return path
