"""The model of the close on the scheduler: one ``close_retrain`` job, and the live pricing call with and without the
process-wide cache (issue 16's follow-up), on the real football-data store.

Needs a store with the shared data ingested and a soccer feature build (``BETPIPE_DATA_DIR``/``BETPIPE_DATABASE_URL``);
without one it reports why and measures nothing. It writes model versions: point it at a copy of the store. Each case
runs in a fresh process at "now" = the day after the store's last soccer kickoff:

- the job on the gate's full path: a champion fitted by hand 90 days earlier (set-up, not timed), then
  ``run_job("close_retrain")`` refits on everything up to ``retrain_holdout_days`` ago, registers it and compares
  the two on the later matches' closes;
- ``live_close_probabilities`` for the last 100 matches (decision an hour before kickoff): the first call through
  the shared cache (verifies and loads the artifact), four more through it, and four with a new ``ModelCache`` each
  (the behaviour before: every betting run and ``/opportunities`` request loaded the artifact again).

CPU is user + system of the child; the 1-minute load average before and after each case is recorded.

    python -m bench close_retrain

Writes bench/results/close_retrain.md (the table docs/monitoring.md quotes) beside the runner's JSON.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

Row = dict[str, Any]
MARKDOWN = Path(__file__).with_name("results") / "close_retrain.md"

_SETUP = """
import json, sys, time
from datetime import datetime, timedelta
from betpipe.cli._common import settings, open_engine
from betpipe.clock import FixedClock, as_utc_instant
from betpipe.config import SchedulerSettings
from betpipe.db.bulk import as_utc
from betpipe.live.close_source import train_close_model
config = settings()
config = config.model_copy(update={"scheduler": SchedulerSettings(close_retrain="on")})
engine_cm = open_engine(config)
engine = engine_cm.__enter__()
with engine.connect() as conn:
    last = conn.exec_driver_sql(
        "SELECT MAX(e.kickoff_utc) FROM events e JOIN odds_snapshots o ON o.event_id = e.id "
        "WHERE e.sport = 'soccer' AND o.kind = 'closing'"
    ).scalar_one()
def instant(value):
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
now = as_utc_instant(instant(last) + timedelta(days=1))
"""

_JOB = (
    _SETUP
    + """
from betpipe.live.scheduler import run_job
champion = train_close_model(engine, config, until=now - timedelta(days=90))
wall, cpu = time.perf_counter(), time.process_time()
run = run_job("close_retrain", engine, config, FixedClock(now))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
engine_cm.__exit__(None, None, None)
print(json.dumps({"status": run.status, "error": run.error, "details": run.details, "job_wall": wall, "job_cpu": cpu}))
"""
)

_PRICING = (
    _SETUP
    + """
import polars as pl
from betpipe.live.close_source import live_close_probabilities, shared_close_cache
from betpipe.registry import ModelCache
train_close_model(engine, config, until=now - timedelta(days=30))
with engine.connect() as conn:
    rows = conn.exec_driver_sql(
        "SELECT e.id, c.code, e.kickoff_utc FROM events e JOIN competitions c ON c.id = e.competition_id "
        "WHERE e.sport = 'soccer' ORDER BY e.kickoff_utc DESC, e.id LIMIT 100"
    ).all()
kick = [instant(r[2]) for r in rows]
frame = pl.DataFrame({"event_id": [int(r[0]) for r in rows], "competition": [str(r[1]) for r in rows],
                      "kickoff_utc": kick, "decided_at": [k - timedelta(hours=1) for k in kick]})
def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu
first = timed(lambda: live_close_probabilities(engine, config, frame))
shared = [timed(lambda: live_close_probabilities(engine, config, frame)) for _ in range(4)]
fresh = [timed(lambda: live_close_probabilities(engine, config, frame, cache=ModelCache(engine, config)))
         for _ in range(4)]
load = [timed(lambda: ModelCache(engine, config).get_champion("soccer", "close_1x2")) for _ in range(4)]
loads = shared_close_cache(engine, config).loads
engine_cm.__exit__(None, None, None)
mean = lambda pairs, i: sum(p[i] for p in pairs) / len(pairs)
print(json.dumps({"events": frame.height, "loads": loads, "first_wall": first[0], "first_cpu": first[1],
                  "shared_wall": mean(shared, 0), "shared_cpu": mean(shared, 1),
                  "fresh_wall": mean(fresh, 0), "fresh_cpu": mean(fresh, 1),
                  "load_wall": mean(load, 0), "load_cpu": mean(load, 1)}))
"""
)


def _child(script: str) -> tuple[dict[str, Any], float, float, float, float]:
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, cpu, load_before, os.getloadavg()[0]


def run(quick: bool = False) -> list[Row]:
    del quick  # one size: the shared store
    if not os.environ.get("BETPIPE_DATABASE_URL"):
        return [{"benchmark": "close_retrain", "note": "set BETPIPE_DATA_DIR / BETPIPE_DATABASE_URL to a store copy"}]
    job, wall, cpu, before, after = _child(_JOB)
    if job["status"] != "succeeded":
        raise RuntimeError(f"close_retrain failed: {job['error']}")
    details = job["details"]
    rows: list[Row] = [
        {
            "benchmark": "close_retrain job (refit, register, gate), 6 leagues",
            "compared_rows": details.get("rows"),
            "ce_diff": details.get("cross_entropy_diff"),
            "ci_high": details.get("ci_high"),
            "promoted": details.get("promoted"),
            "job_wall_s": round(job["job_wall"], 1),
            "job_cpu_s": round(job["job_cpu"], 1),
            "process_wall_s": round(wall, 1),
            "process_cpu_s": round(cpu, 1),
            "load_before": round(before, 2),
            "load_after": round(after, 2),
        }
    ]
    price, wall, cpu, before, after = _child(_PRICING)
    for name, key in (("first call, shared cache (loads)", "first"), ("shared cache, per call", "shared"),
                      ("new ModelCache per call (before)", "fresh"), ("artifact load alone", "load")):  # fmt: skip
        rows.append(
            {
                "benchmark": f"live_close_probabilities, {price['events']} events: {name}",
                "wall_ms": round(price[f"{key}_wall"] * 1000, 1),
                "cpu_ms": round(price[f"{key}_cpu"] * 1000, 1),
                "loads": price["loads"] if key == "shared" else None,
                "process_wall_s": round(wall, 1),
                "process_cpu_s": round(cpu, 1),
                "load_before": round(before, 2),
                "load_after": round(after, 2),
            }
        )
    MARKDOWN.write_text(markdown(rows))
    return rows


def markdown(rows: list[Row]) -> str:
    """One line per case: wall and CPU (the job in s, a pricing call in ms) and the load around its process."""
    lines = ["| case | wall | CPU | load (1 min) before → after |", "|---|---:|---:|---|"]
    for row in rows:
        if "job_wall_s" in row:
            case = (
                f"{row['benchmark']}: compared on {row['compared_rows']} later matches, promoted {row['promoted']} "
                f"(Δ cross-entropy {row['ce_diff']:+.7f}, CI high {row['ci_high']:+.7f})"
            )
            wall, cpu = f"{row['job_wall_s']} s", f"{row['job_cpu_s']} s"
        else:
            case, wall, cpu = row["benchmark"], f"{row['wall_ms']} ms", f"{row['cpu_ms']} ms"
        lines.append(f"| {case} | {wall} | {cpu} | {row['load_before']} → {row['load_after']} |")
    return "\n".join(lines) + "\n"
