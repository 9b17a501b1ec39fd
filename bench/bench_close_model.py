"""Model-of-the-close benchmark: the walk-forward refit over the six leagues (issue 16) on the real football-data store.

Needs a store with the shared data ingested (``BETPIPE_DATA_DIR``/``BETPIPE_DATABASE_URL``); without one it reports
why and measures nothing. One case per refit interval, each in a fresh process: reading the store (training matrix +
every pre-match quote + the decision-time inputs), then both walk-forwards of ``betpipe close-model judge``
(multiplicative and Shin targets) over the untouched seasons 2016-17 .. 2022-23. CPU is user + system of the child;
the load average before and after each case is recorded, since wall time on a shared machine says little alone.
Target: < 10 min wall for the six leagues on 2 cores. ``--quick``: the monthly refit only.

    python -m bench close_model
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

Row = dict[str, Any]

_CASE = """
import json, sys, time
from betpipe.cli._common import settings, open_engine
from betpipe.backtest.close_judge import close_frame, UNTOUCHED_FROM, DEFAULT_L2
from betpipe.modeling.close_model import CloseModel
from betpipe.modeling.close_walkforward import walk_forward_close
from betpipe.modeling.evaluate import evaluation_rows
config = settings()
started, cpu = time.perf_counter(), time.process_time()
with open_engine(config) as engine:
    frame = close_frame(engine, config)
read_wall, read_cpu = time.perf_counter() - started, time.process_time() - cpu
_, scored = evaluation_rows(frame, sport="soccer", first_season=UNTOUCHED_FROM)
scored &= frame.get_column("decided_at").is_not_null().to_numpy()
refit = float(sys.argv[1])
fits, fit_wall, fit_cpu = 0, 0.0, 0.0
for method in ("multiplicative", "shin"):
    walk = walk_forward_close(frame, scored, build=lambda: CloseModel(method=method, l2=DEFAULT_L2), refit_days=refit)
    fits += len(walk.fits)
    fit_wall += walk.fit_seconds
    fit_cpu += walk.cpu_seconds
print(json.dumps({"rows": int(scored.sum()), "fits": fits, "read_wall": read_wall, "read_cpu": read_cpu,
                  "fit_wall": fit_wall, "fit_cpu": fit_cpu}))
"""


def _case(refit_days: float) -> Row:
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CASE, str(refit_days)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"refit {refit_days:g} d: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    inner = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "benchmark": f"close model walk-forward, 6 leagues, refit every {refit_days:g} d (mult + Shin)",
        "rows": inner["rows"],
        "fits": inner["fits"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "read_wall_s": round(inner["read_wall"], 1),
        "read_cpu_s": round(inner["read_cpu"], 1),
        "refits_wall_s": round(inner["fit_wall"], 1),
        "refits_cpu_s": round(inner["fit_cpu"], 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "target": "< 600 s wall, 2 cores",
    }


def run(quick: bool = False) -> list[Row]:
    if not os.environ.get("BETPIPE_DATABASE_URL"):
        return [
            {"benchmark": "close model walk-forward", "skipped": "set BETPIPE_DATABASE_URL to a football-data store"}
        ]
    return [_case(days) for days in ((30.0,) if quick else (7.0, 30.0))]
