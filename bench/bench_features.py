"""Feature benchmarks: build features for 100k / 1M sample events, a 1M training matrix, one-event lookups, real data.

Every case runs in its own spawned process and reports that process's peak RSS (``resource.getrusage``), so one
case's memory never hides in another's. The sample frames are generated and pivoted into the quote shape the SQL load
produces ("prepare") in a process of their own and handed over as Parquet, so neither the generator's time nor its
memory counts towards "compute", which is exactly what ``build_features`` runs after loading; the numba JIT warm-up
is timed apart too.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

Row = dict[str, Any]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPEATS = int(os.environ.get("BETPIPE_BENCH_REPEATS", "3"))
"""Timed repeats of the features and matrix cases; the median is reported (the machine is shared)."""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sample_source(n_events: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, quotes) in the shapes ``betpipe.features.source`` loads, from the scaled sample generator."""
    from betpipe.features.source import EVENT_COLUMNS, QUOTE_SCHEMA
    from betpipe.ingest.sample_league import generate_fixtures_frame

    frames = generate_fixtures_frame(n_events, seed=7)
    events = (
        frames.events.join(frames.results.select("event_id", "home_score", "away_score"), on="event_id", how="left")
        .with_columns(
            pl.lit("soccer").alias("sport"),
            pl.col("competition_code").alias("competition"),
            pl.col("home_idx").cast(pl.Int64).alias("home_team_id"),
            pl.col("away_idx").cast(pl.Int64).alias("away_team_id"),
            pl.lit(False).alias("neutral_site"),
            pl.col("home_score").cast(pl.Int64),
            pl.col("away_score").cast(pl.Int64),
        )
        .with_columns(
            [
                pl.lit(None, dtype=t).alias(c)
                for c, t in EVENT_COLUMNS.items()
                if c not in frames.events.columns
                and c
                not in {
                    "sport",
                    "competition",
                    "home_team_id",
                    "away_team_id",
                    "neutral_site",
                    "home_score",
                    "away_score",
                }
            ]
        )
        .select([pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()])
    )
    odds = frames.odds.filter(pl.col("market") == "1x2").with_columns(
        pl.col("bookmaker").cast(pl.Utf8), pl.col("kind").cast(pl.Utf8), pl.col("selection").cast(pl.Utf8)
    )
    quotes = odds.pivot(on="selection", index=["event_id", "bookmaker", "kind", "captured_at"], values="price")
    quotes = quotes.with_columns(
        pl.lit(False).alias("is_aggregate"), pl.lit("1x2").alias("market"), pl.lit(0.0).alias("line")
    )
    return events, quotes.select([pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()])


def _generate_case(n_events: int, directory: str) -> Row:
    """The sample source of ``n_events`` as Parquet in ``directory`` (its own process: the generator's frames peak
    at several GB for 1M events and must not be charged to the feature computation)."""
    started = time.perf_counter()
    events, quotes = sample_source(n_events)
    events.write_parquet(Path(directory) / "events.parquet")
    quotes.write_parquet(Path(directory) / "quotes.parquet")
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _peak_mb(), "quotes": quotes.height}


def _features_case(n_events: int, store_dir: str | None, source: str, generated: Row) -> Row:
    from betpipe.features import elo, form, market, timeline
    from betpipe.features.compute import compute_tables
    from betpipe.features.definitions import default_feature_set
    from betpipe.features.store import write_tables

    started = time.perf_counter()
    events = pl.read_parquet(Path(source) / "events.parquet")
    quotes = pl.read_parquet(Path(source) / "quotes.parquet")
    read = time.perf_counter() - started
    started = time.perf_counter()
    elo.warm_up()
    form.warm_up()
    market.warm_up()
    timeline.warm_up()
    jit = time.perf_counter() - started
    base_mb = _peak_mb()
    walls, cpus, loads = [], [], []
    tables: Any = None
    for _ in range(REPEATS):
        tables = None  # the previous repeat's tables must not count towards this one's memory
        started, cpu_started = time.perf_counter(), time.process_time()
        tables = compute_tables(events, quotes, "soccer", default_feature_set("soccer"))
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
        loads.append(os.getloadavg()[0])
    seconds, cpu = statistics.median(walls), statistics.median(cpus)
    peak = _peak_mb()
    detail = (
        f"all definitions; median of {REPEATS} (wall {_figures(walls)} s, CPU {_figures(cpus)} s); "
        f"sample generator + pivot {generated['seconds']:.1f} s (own process, peak {generated['peak_rss_mb']:.0f} MB), "
        f"Parquet read {read:.2f} s and JIT warm-up {jit:.2f} s not included; peak RSS before compute {base_mb:.0f} MB "
        f"(the source frames); {quotes.height} quotes; "
        f"load average {_figures(loads)}"
    )
    if store_dir is not None:
        started = time.perf_counter()
        write_tables(tables, Path(store_dir) / "build")
        detail += f"; Parquet write {time.perf_counter() - started:.2f} s"
    target = "< 1 s" if n_events <= 100_000 else "< 5 s, < 4096 MB"
    return {
        "benchmark": f"features {n_events // 1000}k events",
        "seconds": seconds,
        "cpu_s": cpu,
        "load": statistics.median(loads),
        "peak_rss_mb": peak,
        "target": target,
        "detail": detail,
    }


def _matrix_case(store_dir: str) -> Row:
    from betpipe.features import timeline
    from betpipe.features.asof import AsOfIndex, training_frame
    from betpipe.features.definitions import default_feature_set
    from betpipe.features.store import read_tables

    timeline.warm_up()

    walls, cpus, loads = [], [], []
    matrix: Any = None
    for _ in range(REPEATS):
        matrix = None
        started, cpu_started = time.perf_counter(), time.process_time()
        tables = read_tables(Path(store_dir) / "build", "soccer", default_feature_set("soccer"))
        index = AsOfIndex.build(tables)
        matrix = training_frame(index)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
        loads.append(os.getloadavg()[0])
        del tables, index
    return {
        "benchmark": f"training matrix {matrix.height // 1000}k events",
        "seconds": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "load": statistics.median(loads),
        "peak_rss_mb": _peak_mb(),
        "target": "< 1.5 s" if matrix.height >= 1_000_000 else "",
        "detail": f"{matrix.width} columns; Parquet read + as-of joins; median of {REPEATS} (wall {_figures(walls)} s, "
        f"CPU {_figures(cpus)} s); load average {_figures(loads)}",
    }


def _figures(values: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _latencies(engine: Any, settings: Any, n_lookups: int) -> tuple[float, float, str]:
    """p50 and p99 wall-clock ms of ``event_features`` over random events (store loaded), and the CPU-time
    percentiles as text: on a shared machine the wall-clock tail is mostly time spent descheduled."""
    from betpipe.features import event_features

    with engine.connect() as conn:
        ids = [int(r[0]) for r in conn.exec_driver_sql("SELECT id FROM events")]
    picks = np.random.default_rng(1).choice(ids, size=n_lookups)
    event_features(engine, int(picks[0]), settings=settings)  # loads the store once
    latencies, cpu = np.empty(n_lookups), np.empty(n_lookups)
    for i, event_id in enumerate(picks):
        started, cpu_started = time.perf_counter(), time.thread_time()
        event_features(engine, int(event_id), settings=settings)
        latencies[i] = time.perf_counter() - started
        cpu[i] = time.thread_time() - cpu_started
    p50, p99 = (float(np.percentile(latencies, q) * 1000) for q in (50, 99))
    cpu_text = f"CPU time p50 {np.percentile(cpu, 50) * 1000:.2f} ms, p99 {np.percentile(cpu, 99) * 1000:.2f} ms"
    return p50, p99, f"{n_lookups} lookups; {cpu_text}; load average {os.getloadavg()[0]:.1f}"


def _sample_lookup_case(n_lookups: int) -> Row:
    from betpipe.config import Settings
    from betpipe.db import make_engine, upgrade
    from betpipe.features import build_features
    from betpipe.ingest.sample_league import ingest_sample

    directory = Path(tempfile.mkdtemp(prefix="bench-lookup-"))
    try:
        engine = make_engine(f"sqlite:///{directory / 'betpipe.sqlite'}")
        upgrade(engine)
        ingest_sample(engine)
        settings = Settings(data_dir=directory)
        report = build_features(engine, sport="soccer", settings=settings)
        p50, p99, detail = _latencies(engine, settings, n_lookups)
        return {
            "benchmark": f"one-event lookup, sample league ({report.builds[0].events} events, SQLite)",
            "seconds": None,
            "peak_rss_mb": _peak_mb(),
            "p50_ms": p50,
            "p99_ms": p99,
            "target": "p99 < 2 ms",
            "detail": detail,
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _real_case(n_lookups: int) -> list[Row]:
    from betpipe.config import Settings
    from betpipe.db import make_engine, upgrade
    from betpipe.features import build_features, elo_sanity_check, training_matrix
    from betpipe.ingest.football_data import ingest_football_data

    directory = Path(tempfile.mkdtemp(prefix="bench-real-"))
    try:
        engine = make_engine(f"sqlite:///{directory / 'betpipe.sqlite'}")
        upgrade(engine)
        ingest_football_data(engine, sorted((SHARED / "football-data").glob("*/*.csv")))
        settings = Settings(data_dir=directory)
        build_features(engine, sport="soccer", settings=settings)  # first build compiles/loads the JIT cache
        started = time.perf_counter()
        report = build_features(engine, sport="soccer", settings=settings)
        build = time.perf_counter() - started
        started = time.perf_counter()
        matrix = training_matrix(engine, sport="soccer", settings=settings)
        matrix_s = time.perf_counter() - started
        sanity = elo_sanity_check(engine, "E0", settings=settings)
        p50, p99, detail = _latencies(engine, settings, n_lookups)
        seconds = report.builds[0].seconds
        events = f"{matrix.height} events"
        return [
            {
                "benchmark": f"real football-data: full rebuild ({events}, SQLite)",
                "seconds": build,
                "peak_rss_mb": _peak_mb(),
                "detail": f"load {seconds['load']:.2f} s (SQLite query), compute {seconds['compute']:.2f} s, "
                f"write {seconds['write']:.2f} s",
            },
            {"benchmark": f"real football-data: training matrix ({events})", "seconds": matrix_s},
            {
                "benchmark": f"real football-data: one-event lookup ({events}, SQLite)",
                "p50_ms": p50,
                "p99_ms": p99,
                "target": "p99 < 2 ms",
                "detail": detail,
            },
            {
                "benchmark": "E0 sanity: log loss Elo p(home win) vs earlier seasons' base rate",
                "detail": f"Elo {sanity['log_loss_elo']:.4f} vs base rate {sanity['log_loss_base_rate']:.4f} "
                f"over {sanity['events']} games, {sanity['seasons']} seasons",
            },
        ]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _in_child(function: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _features_in_child(n_events: int, store_dir: str | None) -> Row:
    """Generate the sample in one process, compute its features in another."""
    source = tempfile.mkdtemp(prefix="bench-source-")
    try:
        generated = _in_child(_generate_case, n_events, source)
        row: Row = _in_child(_features_case, n_events, store_dir, source, generated)
        return row
    finally:
        shutil.rmtree(source, ignore_errors=True)


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    store = tempfile.mkdtemp(prefix="bench-features-")
    try:
        rows.append(_features_in_child(100_000, None if not quick else store))
        if not quick:
            rows.append(_features_in_child(1_000_000, store))
        rows.append(_in_child(_matrix_case, store))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    rows.append(_in_child(_sample_lookup_case, 10_000))
    if (SHARED / "football-data").is_dir():
        rows.extend(_in_child(_real_case, 10_000))
    columns = ("benchmark", "seconds", "cpu_s", "load", "peak_rss_mb", "p50_ms", "p99_ms", "target", "detail")
    return [{c: row.get(c) for c in columns} for row in rows]


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):  # python -m bench features is the usual entry
        print(result)
