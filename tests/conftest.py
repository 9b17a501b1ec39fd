"""Shared fixtures: a migrated database per test on SQLite and, where configured, on real PostgreSQL.

``BETPIPE_TEST_DATABASE_URL`` names a PostgreSQL server; each test gets its own schema there. When the variable is
set the server must answer: an unreachable server fails the run instead of skipping the PostgreSQL leg.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from betpipe.db import make_engine, upgrade

PG_URL_ENV = "BETPIPE_TEST_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parents[1]


HYPOTHESIS_CI_EXAMPLES = 100
"""Examples per property in the pinned ``ci`` profile (Hypothesis's own default, stated so a change is deliberate)."""


def _hypothesis_profiles() -> str:
    """Register the two Hypothesis profiles and load one; returns its name.

    ``ci`` (pinned): ``derandomize=True`` draws the same examples on every run of the same code, ``database=None``
    replays nothing a previous run (or another clone sharing ``~/.cache``) stored, ``deadline=None`` because a
    per-example deadline is a wall-clock assertion that fails on a busy box, and ``HYPOTHESIS_CI_EXAMPLES`` examples.
    Loaded when ``CI`` is set, by ``make test`` and ``.ci/run`` (``HYPOTHESIS_PROFILE=ci``): a red run is a defect
    that fails again on every machine, never a draw.

    ``dev`` (the default otherwise): fresh random examples on every run, to find new failures; a failure is saved and
    replayed first next time from a database private to this checkout (``<user cache>/hypothesis/examples/<hash of
    the checkout's path>``, outside the repository), so one clone's failure never leaks into another's run.
    ``HYPOTHESIS_PROFILE`` picks a profile explicitly; ``HYPOTHESIS_STORAGE_DIRECTORY`` moves Hypothesis's home
    (never the repository's ``.hypothesis/``).
    """
    import hashlib

    from hypothesis import HealthCheck, settings
    from hypothesis.configuration import set_hypothesis_home_dir
    from hypothesis.database import DirectoryBasedExampleDatabase

    from betpipe import user_cache_dir

    home = Path(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or user_cache_dir() / "hypothesis")
    set_hypothesis_home_dir(home)
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:16]
    common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile(
        "ci", derandomize=True, database=None, max_examples=HYPOTHESIS_CI_EXAMPLES, print_blob=True, **common
    )
    examples = DirectoryBasedExampleDatabase(home / "examples" / checkout)
    # derandomize is explicit: Hypothesis loads its own "ci" profile (derandomized) when it sees a CI variable.
    settings.register_profile("dev", derandomize=False, database=examples, **common)
    on_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if on_ci else "dev")
    settings.load_profile(name)
    return name


HYPOTHESIS_PROFILE = _hypothesis_profiles()

# pytest-xdist hands its workers COLUMNS=80; a user's piped run has no COLUMNS (and gets the CLI's wide tables), so a
# test must see what the user sees, whether the suite runs in one process or on workers.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)


def _shared_data_dir() -> Path:
    configured = os.environ.get("BETPIPE_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


SHARED_DATA = _shared_data_dir()


def _backends() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get(PG_URL_ENV):
        params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    else:
        params.append(
            pytest.param(
                "postgresql",
                id="postgresql",
                marks=pytest.mark.skip(reason=f"{PG_URL_ENV} not set: PostgreSQL leg not run"),
            )
        )
    return params


def _postgres_engine(schema: str) -> Engine:
    url = os.environ[PG_URL_ENV]
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # the variable is set, so an unreachable server is a failure, not a skip
        pytest.fail(f"{PG_URL_ENV} is set but PostgreSQL is unreachable: {error}")
    finally:
        admin.dispose()
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def _drop_schema(schema: str) -> None:
    admin = make_engine(os.environ[PG_URL_ENV])
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'betpipe.sqlite'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = _postgres_engine(schema)
    engine.dispose()
    base = os.environ[PG_URL_ENV]
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    _drop_schema(schema)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database on each backend; parametrised tests run once per backend."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database for tests that are about logic, not about the backend."""
    engine = make_engine(f"sqlite:///{tmp_path / 'betpipe.sqlite'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $BETPIPE_SHARED_DATA); tests that need it skip with a clear message where absent."""
    if not (SHARED_DATA / "football-data").is_dir():
        pytest.skip(f"shared real data not found at {SHARED_DATA} (set BETPIPE_SHARED_DATA)")
    return SHARED_DATA


# Test files of a minute or more (`pytest --durations`), started first. `make test` runs `-n 2 --dist loadfile
# --no-loadscope-reorder`, so files are handed out in collection order (by default pytest-xdist orders them by test
# count, and the longest one, every shared football-data file ingested twice per backend in two tests, ~6 min, went
# last and ran alone on one worker while the other sat idle).
LONGEST_FILES_FIRST = (
    "test_football_data_shared.py",
    "test_backtest_grid.py",
    "test_cli_startup.py",
    "test_scheduler.py",
    "test_cli_terminal.py",
    "test_strategy_shared.py",
    "test_evaluate_speed.py",
    "test_dashboard_browser.py",
    "test_backtest.py",
    "test_training_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A stable reorder of whole files only: the tests inside a file keep their order."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
