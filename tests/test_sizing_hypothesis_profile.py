"""The Hypothesis profiles of tests/conftest.py: CI and ``make test`` draw the same examples on every run and replay
nothing stored by an earlier run or another clone (issue 14: a property failed 1 run in 7, then on every run of every
clone sharing ``~/.cache``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Loads tests/conftest.py the way pytest does (it registers and loads the profile at import), then draws examples.
_PROBE = """
import json, sys
sys.path.insert(0, {tests!r})
import conftest
from hypothesis import given, settings, strategies as st

drawn = []

@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def probe(values):
    drawn.append(values)

probe()
s = settings.default
db = s.database
print(json.dumps({{
    "profile": conftest.HYPOTHESIS_PROFILE,
    "derandomize": s.derandomize,
    "database": None if db is None else str(getattr(db, "path", db)),
    "deadline": None if s.deadline is None else str(s.deadline),
    "max_examples": s.max_examples,
    "drawn": drawn,
}}))
"""


def _run(tmp_path: Path, **env: str) -> dict[str, object]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    clean["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis-home")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(tests=str(REPO_ROOT / "tests"))],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("env", [{"CI": "true"}, {"HYPOTHESIS_PROFILE": "ci"}], ids=["CI-set", "make-test"])
def test_ci_profile_is_pinned(tmp_path: Path, env: dict[str, str]) -> None:
    run = _run(tmp_path, **env)
    assert run["profile"] == "ci"
    assert run["derandomize"] is True
    assert run["database"] is None
    assert run["deadline"] is None
    assert run["max_examples"] == 100


def test_ci_profile_draws_the_same_examples_on_every_run(tmp_path: Path) -> None:
    """Two processes (two ``make test`` runs, or two clones) test exactly the same inputs: a failure is never a draw.
    (``make test`` sets no CI variable, so Hypothesis's own CI detection does not help there.)"""
    first, second = _run(tmp_path / "a", HYPOTHESIS_PROFILE="ci"), _run(tmp_path / "b", HYPOTHESIS_PROFILE="ci")
    assert first["drawn"] == second["drawn"]
    assert len(first["drawn"]) > 10  # type: ignore[arg-type]


def test_dev_profile_keeps_its_examples_per_checkout_outside_the_repository(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert run["profile"] == "dev"
    assert run["derandomize"] is False
    database = Path(str(run["database"]))
    assert database.is_relative_to(tmp_path / "hypothesis-home" / "examples")
    assert not database.resolve().is_relative_to(REPO_ROOT)
    assert database.parent != tmp_path / "hypothesis-home"  # one directory per checkout, not one for every clone
    assert not (tmp_path / ".hypothesis").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed: the Makefile's recipe is not checked")
def test_make_test_runs_the_pinned_profile() -> None:
    recipe = subprocess.run(["make", "-n", "test"], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout
    pytest_line = next(line for line in recipe.splitlines() if "-m pytest" in line)
    assert "HYPOTHESIS_PROFILE=ci" in pytest_line
