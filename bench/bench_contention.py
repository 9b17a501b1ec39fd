"""Contention benchmark: ``betpipe train --sport soccer --model gbm`` on the sample league, quiet and beside CPU hogs.

Why: on a busy 2-core host ``train`` used twice its quiet CPU time and ``evaluate`` eight times, because OpenMP
worker threads spin while they wait for a thread the scheduler has descheduled. betpipe now makes waiting threads
sleep (``OMP_WAIT_POLICY=PASSIVE``) and sizes every pool from ``Settings.compute.threads``. Each case runs ``train``
in its own process, once quiet and once next to ``HOGS`` busy-looping processes (killed right after), and reports
wall time, the child's own CPU time (user + sys, from ``wait4``) and the load average. Goal: CPU time under
contention within 1.2x of quiet. The "libgomp default" case reproduces the old behaviour (an empty
``OMP_WAIT_POLICY`` is ignored by libgomp, which then spins). Never writes outside its temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

Row = dict[str, Any]
HOGS = 3
HOG_SECONDS = 600  # an upper bound: hogs are killed as soon as the measured run ends
BETPIPE = [sys.executable, "-m", "betpipe"]
CASES: dict[str, dict[str, str]] = {
    "default (PASSIVE waits, threads = CPUs)": {},
    "threads = 1": {"BETPIPE_COMPUTE__THREADS": "1"},
    "libgomp default (spinning waits, before)": {"OMP_WAIT_POLICY": ""},
}


def _env(store: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BETPIPE_", "OMP_"))}
    env.update(BETPIPE_DATA_DIR=str(store), BETPIPE_LOG_LEVEL="WARNING", **extra)
    return env


def _prepare(store: Path, teams: int, seasons: int) -> None:
    steps = (
        ["db", "upgrade"],
        ["ingest", "sample", "--teams", str(teams), "--seasons", str(seasons)],
        ["features", "build"],
    )
    for args in steps:
        subprocess.run([*BETPIPE, *args], env=_env(store, {}), check=True, capture_output=True, cwd=store)


def _measure(store: Path, extra: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child alone) of one ``train`` run."""
    command = [*BETPIPE, "train", "--sport", "soccer", "--model", "gbm"]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=_env(store, extra), cwd=store, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(
            f"train failed ({child.returncode}): {child.stderr.read().decode()[-500:] if child.stderr else ''}"
        )
    return wall, usage.ru_utime + usage.ru_stime


def _with_hogs(store: Path, extra: dict[str, str]) -> tuple[float, float, float]:
    hog = f"import time\nend = time.time() + {HOG_SECONDS}\nwhile time.time() < end: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(HOGS)]
    try:
        time.sleep(1.0)  # let the hogs reach the run queue first
        wall, cpu = _measure(store, extra)
        load = os.getloadavg()[0]
    finally:
        for process in hogs:
            process.kill()
        for process in hogs:
            process.wait()
    return wall, cpu, load


def run(quick: bool = False) -> list[Row]:
    teams, seasons = (12, 4) if quick else (20, 6)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="betpipe-contention-") as tmp:
        store = Path(tmp)
        _prepare(store, teams, seasons)
        for name, extra in CASES.items():
            quiet_wall, quiet_cpu = _measure(store, extra)
            quiet_load = os.getloadavg()[0]
            busy_wall, busy_cpu, busy_load = _with_hogs(store, extra)
            rows.append(
                {
                    "benchmark": f"train gbm, sample league {teams} teams x {seasons} seasons: {name}",
                    "quiet_wall_s": quiet_wall,
                    "quiet_cpu_s": quiet_cpu,
                    "quiet_load1": quiet_load,
                    f"hogs_{HOGS}_wall_s": busy_wall,
                    f"hogs_{HOGS}_cpu_s": busy_cpu,
                    f"hogs_{HOGS}_load1": busy_load,
                    "cpu_ratio": busy_cpu / quiet_cpu,
                    "target": "cpu_ratio <= 1.2" if extra.get("OMP_WAIT_POLICY") != "" else "reference (old)",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
