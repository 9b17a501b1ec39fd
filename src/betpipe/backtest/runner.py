"""Running backtests: independent runs (competitions x parameter sets) as Dask tasks on a local cluster, an existing
cluster, or in this process, then one JSON + HTML report per strategy.

Tasks take and return plain JSON-able values (a spec dict, bet rows), never pickled objects of ours, and each run is
deterministic for its spec, so the report does not depend on where or in which order runs execute: results are
merged sorted by run id, never by completion order. Never writes outside ``out_dir``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from betpipe.backtest.checks import check_inputs, why_no_bets
from betpipe.backtest.html import render_html
from betpipe.backtest.report import BETS_SCHEMA, equal_count_clv_difference, paired_clv_difference, summarise
from betpipe.backtest.simulate import run
from betpipe.backtest.spec import BacktestSpec
from betpipe.backtest.verdict import verdict
from betpipe.config import Settings
from betpipe.db import make_engine

__all__ = [
    "Executor",
    "SchedulerUnavailableError",
    "StrategyReport",
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


def run_one_json(spec_json: dict[str, Any], settings_json: dict[str, Any], ledger_dir: str) -> dict[str, Any]:
    """One run, JSON in and out: what a Dask worker executes (it opens its own engine on the store).

    The caller's settings travel with the task, so a worker never falls back to its own environment's; secrets are
    masked in transit (a backtest needs none)."""
    spec = BacktestSpec.from_json(spec_json)
    settings = Settings.model_validate(settings_json)
    engine = make_engine(settings.effective_database_url)
    try:
        result = run(spec, engine=engine, settings=settings, ledger_path=Path(ledger_dir) / f"{spec.run_id}.sqlite")
    finally:
        engine.dispose()
    bets = result.bets.with_columns(
        [pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ") for c, t in BETS_SCHEMA.items() if isinstance(t, pl.Datetime)]
    )
    return {
        "spec": spec.to_json(),
        "run_id": spec.run_id,
        "account": result.account,
        "bets": bets.to_dicts(),
        "no_bet": result.no_bet,
        "refits": result.refits,
        "seconds": result.seconds,
    }


def _bets_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema={**BETS_SCHEMA, "reason": pl.Utf8})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    out = []
    for name, dtype in BETS_SCHEMA.items():
        column = frame.get_column(name)
        if isinstance(dtype, pl.Datetime):
            column = column.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us").dt.replace_time_zone("UTC")
        out.append(column.cast(dtype).alias(name))
    return pl.DataFrame(out).with_columns(frame.get_column("reason").cast(pl.Utf8))


def run_many(
    specs: Sequence[BacktestSpec],
    *,
    settings: Settings,
    out_dir: Path,
    executor: Executor = "local",
    scheduler: str | None = None,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Every spec run once, as one account over all its competitions; results sorted by run id (order-independent).

    The specs are checked against the store first (``check_inputs``) and an existing scheduler must answer within
    ``SCHEDULER_CONNECT_SECONDS``: either failure raises before anything is written under ``out_dir``.
    """
    engine = make_engine(settings.effective_database_url)
    try:
        check_inputs(specs, engine)
    finally:
        engine.dispose()
    runs = sorted({spec.run_id: spec for spec in specs}.items())
    ledger_dir = out_dir / "ledgers"
    settings_json = settings.model_dump(mode="json") | {"database_url": settings.effective_database_url}
    args = [(spec.to_json(), settings_json, str(ledger_dir)) for _, spec in runs]
    if scheduler is None and executor == "inprocess":
        ledger_dir.mkdir(parents=True, exist_ok=True)
        results = [run_one_json(*a) for a in args]
    else:
        from dask.distributed import Client, LocalCluster

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
            futures = [client.submit(run_one_json, *a, pure=False) for a in args]
            results = client.gather(futures)  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
            if cluster is not None:
                cluster.close()
    return sorted(results, key=lambda r: str(r["run_id"]))


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
    results: list[dict[str, Any]], *, out_dir: Path, reference: str | None = None
) -> list[StrategyReport]:
    """One JSON and one HTML per strategy (its runs' bets pooled); CLV differences paired against ``reference``.

    Two differences per pair: at the strategies' own thresholds (``paired_clv_difference``) and against the other
    strategy cut to as many bets (``equal_count_clv_difference``), since a stricter strategy wins the first by
    selectivity alone.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _group(results)
    frames = {name: _bets_frame([b for r in runs for b in r["bets"]]) for name, runs in groups.items()}
    reports = []
    for name, runs in groups.items():
        specs = [BacktestSpec.from_json(r["spec"]) for r in runs]
        bankroll = float(specs[0].bankroll)  # one account: one bankroll, whatever the competitions
        no_bet: dict[str, int] = {}
        for r in runs:
            for reason, n in r["no_bet"].items():
                no_bet[reason] = no_bet.get(reason, 0) + int(n)
        bets = frames[name]
        rejected = bets.filter(pl.col("state") == "rejected").get_column("reason").value_counts()
        rejections = {str(row[0]): int(row[1]) for row in rejected.iter_rows()}
        summary = summarise(bets, starting_bankroll=bankroll, rejections=rejections).to_json()
        comparisons, equal_count = {}, {}
        for other, frame in frames.items():
            if other != name and (reference is None or other == reference):
                diff = paired_clv_difference(bets, frame)
                comparisons[other] = None if diff is None else diff.__dict__
                same_size = equal_count_clv_difference(bets, frame)
                equal_count[other] = None if same_size is None else same_size.__dict__
        first = specs[0].to_json()
        first["competitions"] = sorted({c for s in specs for c in s.competitions})
        document = {
            "strategy": name,
            "spec": first,
            "summary": summary,
            "no_bet": dict(sorted(no_bet.items())),
            "paired_clv_difference": comparisons,
            "equal_count_clv_difference": equal_count,
            "verdict": verdict(bets),
            "runs": [{"run_id": r["run_id"], "refits": r["refits"], "bets": len(r["bets"])} for r in runs],
        }
        json_path, html_path = out_dir / f"{_slug(name)}.json", out_dir / f"{_slug(name)}.html"
        json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        page = render_html(
            title=f"betpipe backtest: {name}",
            spec=first,
            summary=summary,
            bets=bets,
            starting_bankroll=bankroll,
            comparisons=comparisons,
            document=document,
        )
        html_path.write_text(page)
        reports.append(StrategyReport(name, summary, bets, json_path, html_path))
    return reports
