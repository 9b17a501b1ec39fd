"""``configure_threads`` at CLI start-up sizes pools without loading threadpoolctl when no pool exists yet.

The failure this prevents: the start-up shortcut (threadpoolctl only once numpy, and with it every OpenMP/BLAS pool
betpipe uses, is loaded) leaving an already loaded BLAS pool at its default size. Each check is a fresh interpreter:
pools are process-global.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_loaded_blas_pool_is_still_sized() -> None:
    out = _run(
        """
        import os
        import numpy  # noqa: F401  (its BLAS pool exists before the call)
        from threadpoolctl import threadpool_info
        from betpipe.cli._settings import QuickCompute
        from betpipe.threads import configure_threads

        before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert configure_threads(QuickCompute(threads=1)) == 1
        after = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert after and all(n == 1 for n in after), (before, after)
        assert os.environ["OMP_NUM_THREADS"] == "1"
        print("ok")
        """
    )
    assert out == "ok"


def test_with_no_pool_loaded_it_sets_the_environment_and_loads_nothing() -> None:
    out = _run(
        """
        import os, sys
        from betpipe.cli._settings import QuickCompute
        from betpipe.threads import configure_threads

        assert configure_threads(QuickCompute(threads=2)) == 2
        assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "2"  # pools loaded later agree
        print(sorted(name for name in ("threadpoolctl", "numpy", "ctypes") if name in sys.modules))
        """
    )
    assert out == "[]"
