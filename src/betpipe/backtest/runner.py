"""Running backtests: independent runs (competitions x parameter sets) as Dask tasks on a local cluster, an existing
cluster, or in this process, then one JSON + HTML report per strategy.

Tasks take and return plain JSON-able values (a spec dict, bet rows), never pickled objects of ours, and each run is
deterministic for its spec, so the report does not depend on where or in which order runs execute: results are
merged sorted by run id, never by completion order. Never writes outside ``out_dir``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from betpipe.backtest.checks import check_inputs, why_no_bets
from betpipe.backtest.report import BETS_SCHEMA, equal_count_clv_difference, paired_clv_difference
from betpipe.backtest.report_files import ReportText, report_text
from betpipe.backtest.simulate import run
from betpipe.backtest.spec import BacktestSpec
from betpipe.config import Settings
from betpipe.db import make_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "Executor",
    "SchedulerUnavailableError",
    "StrategyReport",
    "bets_frame",
    "check_inputs",
    "run_many",
    "run_one_json",
    "why_no_bets",
    "write_reports",
]

Executor = Literal["local", "inprocess"]
SCHEDULER_CONNECT_SECONDS = 5.0
"""How long to wait for an existing Dask scheduler (``--scheduler``): Dask's own default is 30 s of silent retries."""


class SchedulerUnavailableError(RuntimeError):
    """No Dask scheduler answered at the given address: nothing ran, nothing was written."""


ProgressTopic = "betpipe-backtest-progress"
"""Dask event topic a worker's run reports its steps on (``Worker.log_event``), read by the client's progress bar."""
StepCallback = Callable[[str, int, int], None]
"""``(run_id, steps_done, steps_total)``: a run's progress, for a bar; never changes a result."""
ResultCallback = Callable[[dict[str, Any]], None]
PROGRESS_EVERY_SECONDS = 0.5


def _throttled(run_id: str, send: StepCallback) -> Callable[[int, int], None]:
    """A step callback that sends at most one update per ``PROGRESS_EVERY_SECONDS`` (and always the last)."""
    last = [-math.inf]

    def on_step(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            send(run_id, done, total)

    return on_step


def _to_worker_log(run_id: str, done: int, total: int) -> None:
    from distributed import get_worker

    get_worker().log_event(ProgressTopic, {"run_id": run_id, "done": done, "total": total})


def _event_seasons(engine: Engine, spec: BacktestSpec) -> pl.DataFrame:
    """Season name of every event of the run's competitions: a grid splits its bets into tuning/untouched by it."""
    from sqlalchemy import select

    from betpipe.db.schema import competitions, events, seasons

    query = (
        select(events.c.id, seasons.c.name)
        .join(seasons, seasons.c.id == events.c.season_id)
        .join(competitions, competitions.c.id == events.c.competition_id)
        .where(competitions.c.code.in_(spec.competitions))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return pl.DataFrame(
        [(int(i), str(n)) for i, n in rows], schema={"event_id": pl.Int64, "season": pl.Utf8}, orient="row"
    )


def run_one_json(
    spec_json: dict[str, Any],
    settings_json: dict[str, Any],
    ledger_dir: str,
    progress_to_worker_log: bool = False,
    report: bool = False,
    *,
    on_step: StepCallback | None = None,
) -> dict[str, Any]:
    """One run, JSON in and out: what a Dask worker executes (it opens its own engine on the store).

    The caller's settings travel with the task, so a worker never falls back to its own environment's; secrets are
    masked in transit (a backtest needs none). Progress goes to ``on_step`` in this process, or to the worker's
    event log (``progress_to_worker_log``) on Dask, where the client's bar subscribes to it. ``report``: the run is
    its strategy's only run (a grid's) and the task also builds its report (``report_files.report_text``, no
    paired differences), so N reports are built on the workers in parallel, not one after another in the client."""
    spec = BacktestSpec.from_json(spec_json)
    settings = Settings.model_validate(settings_json)
    send = _to_worker_log if progress_to_worker_log else on_step
    progress = None if send is None else _throttled(spec.run_id, send)
    engine = make_engine(settings.effective_database_url)
    try:
        result = run(
            spec, engine=engine, settings=settings, ledger_path=Path(ledger_dir) / f"{spec.run_id}.sqlite",
            progress=progress,
        )  # fmt: skip
        seasons = _event_seasons(engine, spec)
    finally:
        engine.dispose()
    bets = result.bets.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ") for c, t in BETS_SCHEMA.items() if isinstance(t, pl.Datetime)]
    ).join(seasons, on="event_id", how="left", maintain_order="left")
    rows = bets.to_dicts()
    out: dict[str, Any] = {
        "spec": spec.to_json(),
        "run_id": spec.run_id,
        "account": result.account,
        "bets": rows,
        "no_bet": result.no_bet,
        "refits": result.refits,
        "seconds": result.seconds,
        "books": result.books,
    }
    if report:
        out["report"] = report_text([out], bets_frame(rows)).to_json()
    return out


def bets_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Bet rows of ``run_one_json`` back into a typed frame (BETS_SCHEMA, plus the refusal reason and season)."""
    if not rows:
        return pl.DataFrame(schema={**BETS_SCHEMA, "reason": pl.Utf8, "season": pl.Utf8})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    out = []
    for name, dtype in BETS_SCHEMA.items():
        column = frame.get_column(name)
        if isinstance(dtype, pl.Datetime):
            column = column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us").dt.replace_time_zone("UTC")
        out.append(column.cast(dtype).alias(name))
    extra = [frame.get_column(c).cast(pl.Utf8) if c in frame.columns else pl.lit(None, pl.Utf8).alias(c)
             for c in ("reason", "season")]  # fmt: skip
    kept = {"market": pl.Utf8, "line": pl.Float64}  # a strategy with line markets: each bet's market and line
    extra += [frame.get_column(c).cast(t) for c, t in kept.items() if c in frame.columns]
    return pl.DataFrame(out).with_columns(extra)


def run_many(
    specs: Sequence[BacktestSpec],
    *,
    settings: Settings,
    out_dir: Path,
    executor: Executor = "local",
    scheduler: str | None = None,
    workers: int = 2,
    on_step: StepCallback | None = None,
    on_result: ResultCallback | None = None,
    reports: bool = False,
) -> list[dict[str, Any]]:
    """Every spec run once, as one account over all its competitions; results sorted by run id (order-independent).

    The specs are checked against the store first (``check_inputs``) and an existing scheduler must answer within
    ``SCHEDULER_CONNECT_SECONDS``: either failure raises before anything is written under ``out_dir``. ``on_step``
    hears each run's steps and ``on_result`` each finished run, in completion order (progress bars only).
    ``reports``: each task also builds its strategy's report (a grid: one run per strategy, no paired differences;
    ``write_reports(..., paired=False)`` then only writes them).
    """
    engine = make_engine(settings.effective_database_url)
    try:
        check_inputs(specs, engine)
    finally:
        engine.dispose()
    runs = sorted({spec.run_id: spec for spec in specs}.items())
    ledger_dir = out_dir / "ledgers"
    settings_json = settings.model_dump(mode="json") | {"database_url": settings.effective_database_url}
    if reports and len({spec.name for _, spec in runs}) != len(runs):
        raise ValueError("a report per task needs one run per strategy (two specs share a strategy name)")
    args = [(spec.to_json(), settings_json, str(ledger_dir)) for _, spec in runs]
    results = []
    if scheduler is None and executor == "inprocess":
        ledger_dir.mkdir(parents=True, exist_ok=True)
        for a in args:
            results.append(run_one_json(*a, False, reports, on_step=on_step))
            if on_result is not None:
                on_result(results[-1])
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            # No dashboard, and the scheduler's HTTP routes on a free loopback port: its default, 8787, is taken by any
            # other cluster on the machine (a second backtest), and the warning it prints breaks a quiet run.
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            client = Client(cluster)  # type: ignore[no-untyped-call]
        else:
            client = _connect(scheduler)
        ledger_dir.mkdir(parents=True, exist_ok=True)
        try:
            if on_step is not None:
                step = on_step

                def heard(event: tuple[float, dict[str, Any]]) -> None:
                    message = event[1]
                    step(str(message["run_id"]), int(message["done"]), int(message["total"]))

                client.subscribe_topic(ProgressTopic, heard)  # type: ignore[no-untyped-call]
            futures = [client.submit(run_one_json, *a, on_step is not None, reports, pure=False) for a in args]
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                results.append(future.result())
                if on_result is not None:
                    on_result(results[-1])
        finally:
            if cluster is not None:
                _quiet_workers_for_shutdown(client)
            client.close()  # type: ignore[no-untyped-call]
            if cluster is not None:
                with _closing_quietly():
                    cluster.close()
    return sorted(results, key=lambda r: str(r["run_id"]))


def _silence_shutdown_noise() -> None:
    """Run on each worker of our own cluster before it is closed (see ``_quiet_workers_for_shutdown``)."""
    for name in ("distributed.worker", "distributed.core", "distributed.comm", "distributed.batched"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _quiet_workers_for_shutdown(client: Any) -> None:
    """On a loaded machine a worker's heartbeat can reach the scheduler as it closes, and the worker process logs
    "Failed to communicate with scheduler during heartbeat" with a traceback on its own stderr after a successful
    run; the client's log filter cannot reach another process, so the workers are told directly. ``-v`` keeps it."""
    from betpipe.logs import is_verbose

    if is_verbose():
        return
    with suppress(Exception):  # a cluster that is already failing: its own error is the one that matters
        client.run(_silence_shutdown_noise)


@contextmanager
def _closing_quietly() -> Iterator[None]:
    """Our own cluster's shutdown: on a loaded machine a worker process takes more than the nanny's 4 s to exit and
    the nanny says it is killing it (a WARNING), an expected end of a successful run; ``-v`` still shows it."""
    from betpipe.logs import is_verbose

    nanny = logging.getLogger("distributed.nanny")
    level = nanny.level
    if not is_verbose():
        nanny.setLevel(logging.ERROR)
    try:
        yield
    finally:
        nanny.setLevel(level)


def _connect(address: str) -> Any:
    from dask.distributed import Client

    try:
        return Client(address, timeout=SCHEDULER_CONNECT_SECONDS)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as error:  # refused, timed out, or not an address Dask can parse
        raise SchedulerUnavailableError(
            f"no Dask scheduler answered at {address} within {SCHEDULER_CONNECT_SECONDS:g} s "
            f"({type(error).__name__}): start it, or drop --scheduler to run on a local cluster"
        ) from error


@dataclass(frozen=True)
class StrategyReport:
    name: str
    summary: dict[str, Any]
    bets: pl.DataFrame
    json_path: Path
    html_path: Path


def _group(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        spec = BacktestSpec.from_json(result["spec"])
        groups.setdefault(spec.name, []).append(result)
    return groups


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_reports(
    results: list[dict[str, Any]], *, out_dir: Path, reference: str | None = None, paired: bool = True
) -> list[StrategyReport]:
    """One JSON and one HTML per strategy (its runs' bets pooled); CLV differences paired against ``reference``.

    Two differences per pair: at the strategies' own thresholds (``paired_clv_difference``) and against the other
    strategy cut to as many bets (``equal_count_clv_difference``), since a stricter strategy wins the first by
    selectivity alone. ``paired=False`` (a grid, whose one table compares the strategies: N x (N - 1) pairs of
    event bootstraps cost more than the runs) pairs none, and a report its task already built is written as it is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _group(results)
    frames = {name: bets_frame([b for r in runs for b in r["bets"]]) for name, runs in groups.items()}
    reports = []
    for name, runs in groups.items():
        bets = frames[name]
        built = runs[0].get("report") if len(runs) == 1 else None
        if not paired and built is not None:
            text = ReportText.from_json(built)
        else:
            comparisons, equal_count = {}, {}
            for other, frame in frames.items():
                if paired and other != name and (reference is None or other == reference):
                    diff = paired_clv_difference(bets, frame)
                    comparisons[other] = None if diff is None else diff.__dict__
                    same_size = equal_count_clv_difference(bets, frame)
                    equal_count[other] = None if same_size is None else same_size.__dict__
            text = report_text(runs, bets, comparisons=comparisons, equal_count=equal_count)
        json_path, html_path = out_dir / f"{_slug(name)}.json", out_dir / f"{_slug(name)}.html"
        json_path.write_text(text.json)
        html_path.write_text(text.html)
        reports.append(StrategyReport(name, text.summary, bets, json_path, html_path))
    return reports
