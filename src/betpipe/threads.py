"""Thread pools of the numeric libraries, sized once at the edge (CLI start-up, ``train_model``, ``evaluate``).

Why: on a shared host, OpenMP worker threads that spin while they wait (libgomp's default) burn a core each while
the thread they wait for is descheduled, so CPU time doubled and wall time exploded under contention
(docs/benchmarks.md, bench/bench_contention.py). Waiting threads therefore sleep (``OMP_WAIT_POLICY=PASSIVE``, set
in ``betpipe/__init__`` before any OpenMP runtime loads) and every pool gets the one configured size. Never called
from inside a model or a loop: models read ``configured_threads()``; this module never changes anything but pools.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol


class ThreadSetting(Protocol):
    """What ``configure_threads`` reads: ``config.ComputeSettings``, or the CLI's quick settings (``cli._settings``),
    so a light command sizes the pools without importing the settings classes."""

    @property
    def threads(self) -> int: ...


_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "POLARS_MAX_THREADS")
_configured: list[int] = []  # the size set at the edge; empty until configure_threads is called


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not on Linux
        return max(os.cpu_count() or 1, 1)


def configured_threads() -> int:
    """The size set by ``configure_threads``; before any call, every available CPU (the library default)."""
    return _configured[-1] if _configured else available_cpus()


def configure_threads(compute: ThreadSetting) -> int:
    """Size every pool to ``compute.threads`` (0: all available CPUs) and return the size; idempotent.

    Pools already loaded are resized (threadpoolctl for OpenMP/BLAS, numba's own setter); the environment is set
    so pools loaded later (LightGBM's OpenMP, polars and numba when not imported yet) and child processes agree.
    """
    threads = compute.threads or available_cpus()
    for name in _THREAD_ENV:
        if name == "POLARS_MAX_THREADS" and "polars" in sys.modules:
            continue  # polars sized its pool at import; changing the variable now would only mislead children
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "numpy" in sys.modules:  # every OpenMP/BLAS pool betpipe loads comes with numpy; none yet at CLI start-up
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    _configured[:] = [threads]
    return threads
