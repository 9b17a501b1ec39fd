"""A fast, quiet CLI: starting a command loads no heavy library it does not use, and other libraries' logs stay out.

Each check runs a fresh interpreter (what a user's shell starts); the modules it ends up with are read from
``sys.modules`` at exit. Durations are never asserted here: bench/bench_startup.py measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Loaded only inside the commands that use them (issue 17): never by `import betpipe.cli`, `--help` or `bets list`.
HEAVY = (
    "sklearn", "lightgbm", "dask", "distributed", "streamlit", "scipy", "numba", "fastapi", "uvicorn", "apscheduler",
    "pandas", "polars", "numpy", "alembic",
)  # fmt: skip

_MODULES_AT_EXIT = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["betpipe", *sys.argv[2:]]
runpy.run_module("betpipe", run_name="__main__")
"""


def _modules_of(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, str(out), *args],
        env=env or os.environ.copy(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return {name.split(".")[0] for name in json.loads(out.read_text())}, done.stdout + done.stderr


def _heavy(modules: set[str]) -> list[str]:
    return sorted(set(HEAVY) & modules)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = "import betpipe.cli, json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    modules = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert "typer" in modules  # the check itself sees imports
    assert _heavy(modules) == []


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    modules, output = _modules_of(tmp_path, "--help")
    assert "bets" in output
    assert _heavy(modules) == []


def test_bets_list_loads_no_heavy_library(tmp_path: Path) -> None:
    env = {**os.environ, "BETPIPE_DATA_DIR": str(tmp_path / "data")}
    env.pop("BETPIPE_DATABASE_URL", None)
    _modules_of(tmp_path, "db", "upgrade", env=env)
    modules, output = _modules_of(tmp_path, "bets", "list", env=env)
    assert "0 bet(s)" in output
    assert "sqlite3" in modules  # it did read the store
    assert _heavy(modules) == []
    assert "sqlalchemy" not in modules  # a plain SQLite store is read with the stdlib driver (half the CPU)


_LOGS = """
import logging, sys
from betpipe.logs import configure_logging
configure_logging("INFO", verbose=sys.argv[1] == "verbose")
import distributed  # sets its loggers' levels from Dask's config when imported, as in a backtest
from apscheduler.schedulers.background import BackgroundScheduler
scheduler = BackgroundScheduler()
scheduler.add_job(lambda: None, "interval", seconds=3600, id="noop")
scheduler.start()
scheduler.shutdown()
logging.getLogger("distributed.scheduler").info("Scheduler at: tcp://127.0.0.1:1")
logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /health HTTP/1.1" 200')
logging.getLogger("betpipe.test").info("own info line")
try:
    raise type("CommClosedError", (OSError,), {})("in <TCP (closed) ConnectionPool.heartbeat_worker>")
except OSError:
    logging.getLogger("distributed.worker").error("failed to communicate", exc_info=True)
logging.getLogger("distributed.nanny").warning("Worker process killed by signal 9")
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_other_libraries_log_info_only_when_verbose(mode: str) -> None:
    done = subprocess.run([sys.executable, "-c", _LOGS, mode], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    stderr = done.stderr
    assert "own info line" in stderr  # betpipe's own level is what configure_logging was given
    assert "Worker process killed by signal 9" in stderr  # a warning is never hidden
    library_info = ("apscheduler", "Scheduler at: tcp://", "GET /health")
    if mode == "quiet":
        assert [line for line in stderr.splitlines() if any(text in line for text in library_info)] == []
        assert "Traceback" not in stderr
        assert "CommClosedError" not in stderr
    else:
        assert all(text in stderr for text in library_info), stderr
        assert "CommClosedError" in stderr


SMALL_LEAGUE = ("--seasons", "2", "--teams", "4")


def test_a_command_is_quiet_by_default_and_says_more_with_v(tmp_path: Path) -> None:
    env = {**os.environ, "BETPIPE_DATA_DIR": str(tmp_path / "data")}
    for name in ("BETPIPE_DATABASE_URL", "BETPIPE_LOG_LEVEL"):
        env.pop(name, None)
    quiet = subprocess.run(
        [sys.executable, "-m", "betpipe", "ingest", "sample", *SMALL_LEAGUE],
        env={**env}, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert quiet.returncode == 1  # no store yet: the one-line error, nothing else
    subprocess.run([sys.executable, "-m", "betpipe", "db", "upgrade"], env=env, check=True, capture_output=True)
    for verbose in (False, True):
        done = subprocess.run(
            [sys.executable, "-m", "betpipe", *(["-v"] if verbose else []), "ingest", "sample", *SMALL_LEAGUE],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "sample league" in done.stdout  # the one summary table
        assert "Traceback" not in done.stdout + done.stderr
        assert ("payload ingested" in done.stderr) is verbose, done.stderr


_DASK = """
import sys
from betpipe.logs import configure_logging
configure_logging("WARNING", verbose=sys.argv[1] == "verbose")
from distributed import Client, LocalCluster
if __name__ == "__main__":
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # as the backtest runner: 8787 may be taken
    ) as cluster:
        with Client(cluster) as client:
            print(client.submit(lambda: 41 + 1).result())
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_a_local_dask_cluster_prints_only_the_answer_unless_verbose(mode: str, tmp_path: Path) -> None:
    """As a backtest on Dask does: worker processes start, compute, and the cluster shuts down."""
    script = tmp_path / "dask_run.py"  # a file, so worker processes can re-import the main module
    script.write_text(_DASK)
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    if mode == "quiet":
        assert done.stderr == ""
    else:
        assert "distributed.scheduler" in done.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_betpipe_run_prints_no_scheduler_info_unless_verbose(verbose: bool, tmp_path: Path) -> None:
    """The scheduler on an empty store: its jobs run (and fail: nothing ingested), APScheduler stays quiet."""
    import time

    from sqlalchemy import create_engine, func, select

    from betpipe.db.schema_jobs import job_runs

    env = {**os.environ, "BETPIPE_DATA_DIR": str(tmp_path / "data"), "BETPIPE_PIPELINE__SOURCE": "none"}
    for name in ("BETPIPE_DATABASE_URL", "BETPIPE_LOG_LEVEL"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "betpipe", "db", "upgrade"], env=env, check=True, capture_output=True)
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'betpipe.sqlite'}")
    command = [sys.executable, "-m", "betpipe", *(["-v"] if verbose else []), "run"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # a bound on a hung test, not a timing claim
        while time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as conn:
                finished = conn.execute(select(func.count()).where(job_runs.c.status != "running")).scalar_one()
            if finished >= 2:
                break
            time.sleep(0.5)
        assert process.poll() is None, "the scheduler stopped by itself"
        process.terminate()  # what it printed so far is the point, not how it stops
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        engine.dispose()
    # Its errors would still show (WARNING and above always do); its INFO chatter only with -v.
    assert ("INFO apscheduler" in stderr) is verbose, stderr
