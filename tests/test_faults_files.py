"""The fault matrix for file sources: every malformed input ends quarantined, corrected or refused, never lost.

Each case (tests/faults_inputs.py) breaks one thing in a small good file and runs the real ingest on SQLite and
PostgreSQL. Whatever the fault, input rows = events + quarantined rows, the good rows of the same file land, a bad
football-data file does not stop the file after it, and nothing raises. Outcomes are tallied per fault class; run
with ``-s`` to see the table (docs/faults.md), or set ``BETPIPE_FAULT_TABLE`` to a file path to write it there.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select

from betpipe.cli._common import exit_if_nothing_read
from betpipe.clock import FixedClock
from betpipe.db.schema import change_log, event_refs, events, ingest_runs, odds_snapshots, quarantine, raw_payloads
from betpipe.ingest.football_data import ingest_football_data
from betpipe.ingest.nflverse import ingest_nflverse
from betpipe.ingest.store import IngestReport
from faults_inputs import Case, cases, correction_inputs, football_csv, football_rows, nfl_csv, nfl_rows

CLOCK = FixedClock(datetime(2024, 1, 1, tzinfo=UTC))
OUTCOMES = ("quarantined", "corrected", "refused", "stored", "traceback", "silently lost")
TALLY: dict[tuple[str, str], set[str]] = {}
_ROW_REF = {"football-data": re.compile(r"#row\d+$"), "nflverse": re.compile(r"^\d+$")}


def _tally(fault_class: str, name: str, outcome: str, backend: str) -> None:
    TALLY.setdefault((fault_class, name), set()).add(f"{outcome}@{backend}")


def fault_table() -> str:
    """Cases per class x outcome (a case counts once; its outcome must agree on every backend it ran on)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (fault_class, _), seen in TALLY.items():
        outcomes = {entry.split("@")[0] for entry in seen}
        counts[(fault_class, outcomes.pop() if len(outcomes) == 1 else "silently lost")] += 1
    classes = sorted(
        {c for c, _ in counts},
        key=["encoding", "structure", "size", "values", "duplicates"].__add__(["corrections", "concurrency"]).index,
    )
    lines = ["| class | " + " | ".join(OUTCOMES) + " | cases |", "|---" * (len(OUTCOMES) + 2) + "|"]
    for fault_class in classes:
        row = [counts[(fault_class, o)] for o in OUTCOMES]
        lines.append(f"| {fault_class} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    total = [sum(counts[(c, o)] for c in classes) for o in OUTCOMES]
    lines.append("| **all** | " + " | ".join(map(str, total)) + f" | {sum(total)} |")
    return "\n".join(lines)


@pytest.fixture(scope="module", autouse=True)
def print_fault_table() -> Iterator[None]:
    yield
    if TALLY:
        table = fault_table()
        print("\n" + table)
        if target := os.environ.get("BETPIPE_FAULT_TABLE"):
            Path(target).write_text(table + "\n")


def _backend(engine: Engine) -> str:
    return engine.dialect.name


def _count(engine: Engine, table: object, *where: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def _quarantine(engine: Engine, source: str, locator: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.row_ref, quarantine.c.reason).where(
                quarantine.c.source == source, quarantine.c.locator == locator
            )
        ).all()
    return [(str(ref), str(reason)) for ref, reason in rows]


def _ingest(case: Case, engine: Engine, root: Path) -> dict[str, IngestReport]:
    """Ingest the case's files (plus, for football-data, a good file sorted after them); reports by locator."""
    reports: dict[str, IngestReport] = {}
    for locator, body in case.files:
        path = root / locator
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if case.source == "nflverse":
            reports[locator] = ingest_nflverse(engine, path, clock=CLOCK)
    if case.source == "football-data":
        companion = root / "F1" / "2022-2023.csv"
        companion.parent.mkdir(parents=True, exist_ok=True)
        companion.write_bytes(football_csv(football_rows(div="F1")))

        def on_file(path: Path, report: IngestReport) -> None:
            reports[f"{path.parent.name}/{path.name}"] = report

        ingest_football_data(engine, [root], on_file=on_file, clock=CLOCK)
    return reports


def _observe(case: Case, engine: Engine, root: Path) -> tuple[str, str]:
    """What happened to the case's input: an outcome and, when it is a failure, why."""
    try:
        reports = _ingest(case, engine, root)
    except Exception as error:  # the very thing this matrix exists to rule out
        return "traceback", f"{type(error).__name__}: {error}"
    locator, _ = case.files[-1]
    stored_locator = (root / locator).resolve().as_posix() if case.source == "nflverse" else locator
    report = reports[locator]
    records = _quarantine(engine, case.source, stored_locator)
    with engine.connect() as conn:
        run = conn.execute(
            select(ingest_runs.c.status, ingest_runs.c.message).where(ingest_runs.c.locator == stored_locator)
        ).one()
    if run.status == "failed":
        try:
            exit_if_nothing_read(report)
        except typer.Exit as stop:
            refused_cleanly = stop.exit_code == 1 and "\n" not in run.message and len(records) == 1
            return ("refused", "") if refused_cleanly else ("silently lost", f"refusal without one line: {run}")
        return "silently lost", "a failed run that would exit 0"
    landed = report.tables["events"].total
    row_records = [reason for ref, reason in records if _ROW_REF[case.source].search(ref)]
    if landed + len(row_records) != case.rows:
        return "silently lost", f"{case.rows} rows in, {landed} events + {len(row_records)} quarantined out"
    if landed != case.events:
        return "silently lost", f"{landed} events landed, {case.events} expected"
    if case.source == "football-data":
        companion = reports.get("F1/2022-2023.csv")
        if companion is None or companion.tables["events"].total != 20:
            return "silently lost", "the good file after the bad one did not land"
    return ("quarantined" if records else "stored"), ""


@pytest.mark.parametrize("case", cases(), ids=lambda c: f"{c.source}:{c.fault_class}:{c.name}")
def test_a_malformed_file_is_quarantined_or_refused_and_nothing_is_lost(
    case: Case, engine: Engine, tmp_path: Path
) -> None:
    outcome, why = _observe(case, engine, tmp_path)
    _tally(case.fault_class, f"{case.source}: {case.name}", outcome, _backend(engine))
    assert outcome == case.outcome, why
    if case.reason:
        locator = case.files[-1][0]
        stored = (tmp_path / locator).resolve().as_posix() if case.source == "nflverse" else locator
        reasons = [reason for _, reason in _quarantine(engine, case.source, stored)]
        assert reasons, "every case leaves a reason somewhere"
        assert all(case.reason in reason for reason in reasons), reasons


@pytest.mark.parametrize("name", list(correction_inputs()))
def test_a_later_file_corrects_in_place_with_a_change_log_and_never_stores_twice(
    name: str, engine: Engine, tmp_path: Path
) -> None:
    source, original, corrected = correction_inputs()[name]
    path = tmp_path / ("E0/2022-2023.csv" if source == "football-data" else "games.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    reports = []
    try:
        for body in (original, corrected):
            path.write_bytes(body)
            if source == "football-data":
                reports.append(ingest_football_data(engine, [path], clock=CLOCK))
            else:
                reports.append(ingest_nflverse(engine, path, clock=CLOCK))
    except Exception:
        _tally("corrections", name, "traceback", _backend(engine))
        raise
    rows = reports[0].rows_read
    second = reports[1].tables["events"]
    odds_per_event = _count(engine, odds_snapshots) / max(_count(engine, events), 1)
    with engine.connect() as conn:
        logged = conn.execute(select(change_log.c.table_name, change_log.c.changed_at)).all()
    stored_once = _count(engine, events) == rows == second.total and _count(engine, event_refs) == rows
    if not stored_once or odds_per_event != reports[0].tables["odds"].total / rows:
        _tally("corrections", name, "silently lost", _backend(engine))
    elif original == corrected:
        _tally("corrections", name, "stored", _backend(engine))
        assert logged == []
        assert second.inserted == second.updated == 0
    else:
        _tally("corrections", name, "corrected", _backend(engine))
        assert logged, "a correction must leave a change_log row"
        assert {when.replace(tzinfo=UTC) if when.tzinfo is None else when for _, when in logged} == {CLOCK.now()}
        expected = "results" if "score" in name else "events"
        assert expected in {table for table, _ in logged}
    assert stored_once, (rows, second, _count(engine, events))
    assert odds_per_event == reports[0].tables["odds"].total / rows, "moved events keep no stale prices"


def _run_together(workers: int, job: object) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            job(index)  # type: ignore[operator]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_first_ingests_of_one_folder_all_succeed_and_store_it_once(
    workers: int, engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    for div in ("E0", "E1", "F1"):
        (root / div).mkdir(parents=True)
        (root / div / "2022-2023.csv").write_bytes(football_csv(football_rows(div=div)))
    errors = _run_together(workers, lambda _: ingest_football_data(engine, [root], clock=CLOCK))
    name = f"{workers} concurrent first ingests of one folder"
    _tally("concurrency", name, "traceback" if errors else "stored", _backend(engine))
    assert errors == []
    assert _count(engine, events) == 60
    assert _count(engine, raw_payloads) == 3
    assert _count(engine, ingest_runs, ingest_runs.c.status == "ok") == 3 * workers
    assert _count(engine, quarantine) == 0


def test_concurrent_ingests_of_different_files_create_each_team_once(engine: Engine, tmp_path: Path) -> None:
    paths = []
    for season, year in (("2021-2022", 2021), ("2022-2023", 2022)):
        path = tmp_path / "E0" / f"{season}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(football_csv(football_rows(start=datetime(year, 8, 7).date())))
        paths.append(path)
    errors = _run_together(2, lambda i: ingest_football_data(engine, [paths[i]], clock=CLOCK))
    _tally(
        "concurrency",
        "2 files of one league at once (same new teams)",
        "traceback" if errors else "stored",
        _backend(engine),
    )
    assert errors == []
    assert _count(engine, events) == 40


def test_concurrent_nflverse_ingests_of_one_file_store_it_once(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "games.csv"
    path.write_bytes(nfl_csv(nfl_rows()))
    errors = _run_together(2, lambda _: ingest_nflverse(engine, path, clock=CLOCK))
    _tally("concurrency", "2 concurrent nflverse ingests", "traceback" if errors else "stored", _backend(engine))
    assert errors == []
    assert _count(engine, events) == 12
    assert _count(engine, raw_payloads) == 1


def test_an_unreadable_file_in_a_folder_is_recorded_and_the_next_file_still_lands(
    engine: Engine, tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    first = tmp_path / "E0" / "2022-2023.csv"
    later = tmp_path / "F1" / "2022-2023.csv"
    for path, div in ((first, "E0"), (later, "F1")):
        path.parent.mkdir(parents=True)
        path.write_bytes(football_csv(football_rows(div=div)))
    first.chmod(0)
    try:
        report = ingest_football_data(engine, [tmp_path], clock=CLOCK)
    finally:
        first.chmod(0o644)
    _tally("structure", "football-data: a file that cannot be opened", "refused", _backend(engine))
    assert report.tables["events"].inserted == 20
    assert [reason for _, reason in _quarantine(engine, "football-data", "E0/2022-2023.csv")] == [
        "cannot read the file: Permission denied"
    ]
