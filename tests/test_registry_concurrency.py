"""The registry under concurrent writers: real threads and processes on SQLite and PostgreSQL.

Each test fails if alias moves are not serialised: a lost update breaks the alias-history chain (a move that does not
start where the previous one ended), a race on the first promote raises an IntegrityError, and concurrent rollbacks
leave history and alias disagreeing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from betpipe.clock import FixedClock
from betpipe.config import Settings
from betpipe.db.schema_registry import model_versions
from betpipe.registry import (
    CHALLENGER,
    CHAMPION,
    AliasMove,
    alias_history,
    alias_version,
    promote,
    register_model,
    rollback,
)
from betpipe.registry.locking import lock_id
from test_registry import TinySoftmax, _data, _lineage, _register

SPORT, MARKET = "soccer", "1x2"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def slow_reads(engine: Engine) -> Iterator[None]:
    """Widen every read-then-write window: each SELECT waits a little before it runs, as on a busy machine."""

    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            time.sleep(0.005)

    event.listen(engine, "before_cursor_execute", pause)
    yield
    event.remove(engine, "before_cursor_execute", pause)


def run_together(workers: list[Callable[[], object]]) -> list[BaseException]:
    """Start every worker at the same instant (a barrier) and return the exceptions they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run(work: Callable[[], object]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as error:  # collected and asserted on below, never swallowed
            with guard:
                errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return errors


def assert_chain(engine: Engine, alias: str) -> tuple[AliasMove, ...]:
    """Every move starts where the previous one ended, and the last one ended where the alias points now."""
    history = alias_history(engine, SPORT, MARKET, alias)
    previous: int | None = None
    for move in history:
        assert move.from_version_id == previous, f"move {move.id} starts at {move.from_version_id}, not {previous}"
        previous = move.to_version_id
    current = alias_version(engine, SPORT, MARKET, alias)
    assert (None if current is None else current.id) == previous, "alias and history disagree"
    return history


@pytest.mark.usefixtures("slow_reads")
def test_concurrent_promotes_lose_no_update_and_keep_the_history_a_chain(engine: Engine, settings: Settings) -> None:
    versions = [_register(engine, settings, seed=s)[0] for s in range(1, 7)]
    promote(engine, versions[-1], reason="a champion before the race: this test is about lost updates")

    def promoter(offset: int) -> Callable[[], None]:
        def work() -> None:
            for step in range(7):
                target = versions[(offset + step) % len(versions)]
                promote(engine, target, reason=f"worker {offset} step {step}", actor=f"w{offset}")

        return work

    errors = run_together([promoter(offset) for offset in range(6)])
    assert errors == []
    history = assert_chain(engine, CHAMPION)
    assert len(history) >= 7, "moves to the version already in place record nothing, the rest are all kept"


@pytest.mark.usefixtures("slow_reads")
def test_a_race_on_the_first_promote_is_not_an_integrity_error(engine: Engine, settings: Settings) -> None:
    versions = [_register(engine, settings, seed=s)[0] for s in range(1, 7)]
    errors = run_together(
        [lambda v=v: promote(engine, v, reason="first champion") for v in versions[:4]]  # type: ignore[misc]
        + [lambda v=v: promote(engine, v, CHALLENGER, reason="first challenger") for v in versions[4:]]  # type: ignore[misc]
    )
    assert errors == [], [repr(e) for e in errors]
    history = assert_chain(engine, CHAMPION)
    assert len(history) == 4
    assert history[0].from_version_id is None
    assert_chain(engine, CHALLENGER)


@pytest.mark.usefixtures("slow_reads")
def test_concurrent_rollbacks_walk_back_one_step_each_and_history_agrees(engine: Engine, settings: Settings) -> None:
    a, b, c, d = (_register(engine, settings, seed=s)[0] for s in range(1, 5))
    promote(engine, a, reason="base")
    for round_ in range(4):
        for version in (b, c, d):
            promote(engine, version, reason=f"round {round_}")
        errors = run_together([lambda: rollback(engine, SPORT, MARKET, reason="undo") for _ in range(3)])
        assert errors == []
        history = assert_chain(engine, CHAMPION)
        assert [(m.action, m.from_version_id, m.to_version_id) for m in history[-3:]] == [
            ("rollback", d, c),
            ("rollback", c, b),
            ("rollback", b, a),
        ], f"round {round_}: three rollbacks are three steps back"


@pytest.mark.usefixtures("slow_reads")
def test_concurrent_registrations_get_distinct_version_numbers(engine: Engine, settings: Settings) -> None:
    def registrar(seed: int) -> Callable[[], object]:
        frame, labels = _data(seed)
        model = TinySoftmax().fit(frame, labels)
        return lambda: register_model(
            engine,
            model,
            model_type="tiny",
            sport=SPORT,
            market=MARKET,
            training=_lineage(f"sha256:{seed}"),
            metrics={"log_loss": 1.0},
            settings=settings,
        )

    # Seeds 1..4 plus seed 1 again: the repeated artifact must resolve to the same version, not collide.
    errors = run_together([registrar(seed) for seed in (1, 2, 3, 4, 1)])
    assert errors == [], [repr(e) for e in errors]
    with engine.connect() as conn:
        numbers = sorted(conn.execute(select(model_versions.c.version)).scalars())
    assert numbers == [1, 2, 3, 4]


WORKER = textwrap.dedent(
    """
    import sys
    from betpipe.db import make_engine
    from betpipe.registry import promote
    engine = make_engine(sys.argv[1])
    versions = [int(v) for v in sys.argv[3].split(",")]
    offset = int(sys.argv[2])
    for step in range(6):
        promote(engine, versions[(offset + step) % len(versions)], reason=f"process {offset} step {step}")
    engine.dispose()
    """
)


def test_promotes_from_separate_processes_keep_the_history_a_chain(engine: Engine, settings: Settings) -> None:
    versions = [_register(engine, settings, seed=s)[0] for s in range(1, 5)]
    url = engine.url.render_as_string(hide_password=False)
    argv = ",".join(str(v) for v in versions)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(offset), argv],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for offset in range(3)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    history = assert_chain(engine, CHAMPION)
    assert len(history) >= 6


def test_alias_moves_and_registrations_are_stamped_by_the_given_clock(engine: Engine, settings: Settings) -> None:
    frame, labels = _data(11)
    first = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    later = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    model = TinySoftmax().fit(frame, labels)
    version = register_model(
        engine,
        model,
        model_type="tiny",
        sport=SPORT,
        market=MARKET,
        training=_lineage("sha256:11"),
        metrics={},
        settings=settings,
        clock=FixedClock(first),
    )
    other, _ = _register(engine, settings, seed=12)
    assert version.created_at == first
    promote(engine, version.id, reason="clocked", clock=FixedClock(first))
    promote(engine, other, reason="clocked", clock=FixedClock(later))
    rollback(engine, SPORT, MARKET, reason="clocked", clock=FixedClock(later))
    assert [m.moved_at for m in alias_history(engine, SPORT, MARKET)] == [first, later, later]


def test_lock_ids_are_stable_signed_64_bit_and_distinct_per_key() -> None:
    keys: list[Any] = [f"aliases:{s}/{m}" for s in ("soccer", "american_football") for m in ("1x2", "moneyline")]
    ids = [lock_id(key) for key in keys]
    assert len(set(ids)) == len(ids)
    assert all(-(2**63) <= i < 2**63 for i in ids)
