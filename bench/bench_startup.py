"""Benchmark: CPU time of starting the CLI, ``betpipe --help`` and ``betpipe bets list`` (target < 0.3 s each).

Each command runs in a fresh interpreter, as a shell starts it; CPU is user + system time of the child from
``resource.getrusage(RUSAGE_CHILDREN)``, so it counts every thread and does not stretch with the wall clock on a
busy machine the way wall time does (it still grows somewhat under contention: the load average is recorded next to
every row). ``bets list`` reads an empty, migrated SQLite store in a temporary directory. Compiled bytecode is kept
in a temporary ``PYTHONPYCACHEPREFIX`` and warmed once, as an installed package has it (``PYTHONDONTWRITEBYTECODE``
would otherwise make every run compile every module it imports). ``python -c pass`` is the floor.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_CPU_SECONDS = 0.3


def _run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[1:])} failed: {done.stderr.strip()[-300:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def run(quick: bool = False) -> list[dict[str, object]]:
    repeats = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="betpipe-bench-startup-") as tmp:
        env = {**os.environ, "BETPIPE_DATA_DIR": str(Path(tmp) / "data"), "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pyc")}
        for name in ("PYTHONDONTWRITEBYTECODE", "BETPIPE_DATABASE_URL", "BETPIPE_LOG_LEVEL"):
            env.pop(name, None)
        cli = [sys.executable, "-m", "betpipe"]
        _run_once([*cli, "db", "upgrade"], env)
        rows: list[dict[str, object]] = []
        for label, args in (
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("betpipe --help", [*cli, "--help"]),
            ("betpipe bets list", [*cli, "bets", "list"]),
        ):
            _run_once(args, env)  # warm: bytecode compiled, files in the page cache
            load_before = os.getloadavg()[0]
            samples = [_run_once(args, env) for _ in range(repeats)]
            cpu = [c for c, _ in samples]
            rows.append(
                {
                    "benchmark": label,
                    "runs": repeats,
                    "cpu min s": min(cpu),
                    "cpu median s": statistics.median(cpu),
                    "wall median s": statistics.median(w for _, w in samples),
                    "target cpu s": None if "floor" in label else TARGET_CPU_SECONDS,
                    "load avg 1 min": round((load_before + os.getloadavg()[0]) / 2, 2),
                }
            )
        return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run(quick="--quick" in sys.argv):
        print(row)
