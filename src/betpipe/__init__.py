"""betpipe: sports results and odds in, calibrated predictions and disciplined bets out.

Importing the package must never write into the source tree: numba's on-disk JIT cache defaults to a
``__pycache__`` next to each module (inside the repository for an editable install), so it is pointed at a user
cache directory here, before any betpipe module imports numba. An explicit ``NUMBA_CACHE_DIR`` always wins.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/betpipe`` (default ``~/.cache/betpipe``): machine-local, safe to delete at any time."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory (some containers): a temporary directory still beats the repo
            import tempfile  # here only: every command imports this package, and tempfile costs start-up time

            base = tempfile.gettempdir()
    return Path(base) / "betpipe"


os.environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))
# OpenMP threads that spin while waiting double the CPU time on a busy host; an OpenMP runtime reads this once, when
# it loads (with LightGBM or scikit-learn), so it is set before any of them can be imported. See betpipe.threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
