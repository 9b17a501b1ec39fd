"""Evaluation benchmark: the full soccer evaluation (every model, every season) on the real football-data store.

Needs a store with the shared data ingested (``BETPIPE_DATA_DIR``/``BETPIPE_DATABASE_URL``, see the Makefile's
``evaluate`` target); without one it reports why and measures nothing. Each case runs in a fresh process, and CPU
is user + system of that process and its workers, so a busy machine shows up as wall time, not as CPU. The load
average before and after each case is recorded: on a shared machine wall time alone says little. Target: < 5 min
wall on a quiet 2-core machine (issue 17). ``--quick`` runs only the default (fast) path.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from typing import Any

Row = dict[str, Any]

# The straightforward path: every spec alone in this process, no fit cache (how evaluate ran before issue 17).
_STRAIGHT = """
import sys
from betpipe.cli._common import settings, open_engine
from betpipe.features import training_matrix
from betpipe.modeling import default_specs
from betpipe.modeling.walkforward import walk_forward_predict
from betpipe.modeling.evaluate import evaluation_rows, RULES
from betpipe.modeling._base import labels_from_outcome
from betpipe.sports import sport_rules
from betpipe.threads import configure_threads
import numpy as np
config = settings()
configure_threads(config.compute)
with open_engine(config) as engine:
    frame = training_matrix(engine, sport="soccer", settings=config).sort("kickoff_utc", "event_id")
labelled, scored = evaluation_rows(frame, sport="soccer", first_season="2012-2013")
outcome = frame.get_column("outcome").fill_null(0).to_numpy()
y = np.where(labelled, labels_from_outcome(np.where(labelled, outcome, 0), 3), -1)
for spec in default_specs("soccer"):
    walk_forward_predict(spec, frame, y, labelled=labelled, predict_mask=scored, n_outcomes=3,
                         result_delay_hours=sport_rules("soccer").result_delay_hours)
"""


def _case(name: str, argv: list[str]) -> Row:
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return {
        "benchmark": name,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "target": "< 300 s wall, quiet 2 cores",
    }


def run(quick: bool = False) -> list[Row]:
    if not os.environ.get("BETPIPE_DATA_DIR"):
        return [{"benchmark": "evaluate soccer", "detail": "skipped: set BETPIPE_DATA_DIR to a real-data store"}]
    betpipe = [os.path.join(os.path.dirname(sys.executable), "betpipe")]
    rows = [_case("evaluate --sport soccer (fit cache, 2 workers)", [*betpipe, "evaluate", "--sport", "soccer"])]
    if not quick:
        rows.append(_case("straightforward walk-forward, no fit cache, 1 process", [sys.executable, "-c", _STRAIGHT]))
    return rows
