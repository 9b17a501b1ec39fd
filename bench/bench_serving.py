"""Serving benchmark: POST /predict throughput and latency on one uvicorn worker, a 10,000-query batch, swap time.

Setup: the service runs in its own process (uvloop + httptools, one worker) on 127.0.0.1 over a temporary SQLite
store with the default sample league and an ``elo_logit`` champion. The load generator is ``wrk`` when installed
(Debian: ``apt-get install wrk``), else a bounded asyncio httpx client (slower: its own CPU use competes with the
server's on 2 cores, so its figures are a floor). The machine's load average is recorded with every run: on a shared
box other processes take CPU from the server. Targets: >= 1,000 req/s with p99 < 5 ms for one event; a batch of
10,000 under 1 s; a promotion served within 1 s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

Row = dict[str, Any]
POLL_SECONDS = 0.1


def _build_store(root: Path) -> tuple[str, datetime, list[int], list[str]]:
    from sqlalchemy import select

    from betpipe.config import Settings
    from betpipe.db import make_engine, upgrade
    from betpipe.db.schema import events, teams
    from betpipe.features import build_features
    from betpipe.ingest.sample_league import ingest_sample
    from betpipe.live.training import train_model
    from betpipe.registry import promote

    url = f"sqlite:///{root / 'betpipe.sqlite'}"
    settings = Settings(data_dir=root / "data", database_url=url)
    engine = make_engine(url)
    upgrade(engine)
    ingest_sample(engine)
    build_features(engine, settings=settings)
    promote(
        engine, train_model(engine, sport="soccer", model="elo_logit", settings=settings).version.id, reason="bench"
    )
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.id, events.c.kickoff_utc).where(events.c.status == "scheduled")).all()
        names = [str(n) for n in conn.execute(select(teams.c.name)).scalars()]
    engine.dispose()
    first = min(r.kickoff_utc for r in rows)
    first = first if first.tzinfo else first.replace(tzinfo=UTC)
    return url, first - timedelta(days=1), sorted(int(r.id) for r in rows), names


def _serve(url: str, data_dir: str, now: str, port: int) -> None:  # pragma: no cover - runs in the server process
    import uvicorn

    from betpipe.clock import FixedClock
    from betpipe.config import Settings
    from betpipe.serving import create_app

    settings = Settings(data_dir=data_dir, database_url=url, serving={"alias_poll_seconds": POLL_SECONDS})
    app = create_app(settings, clock=FixedClock(datetime.fromisoformat(now)))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        log_level="error",
        access_log=False,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the service did not become ready")


def _wrk(base: str, event_id: int, seconds: int, connections: int, workdir: Path) -> Row:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = '{{\"event_id\": {event_id}}}'\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"{base}/predict"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def latency_ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if match is None:
            raise RuntimeError(f"could not read the {label} latency from wrk:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency_ms("50%"),
        "p99_ms": latency_ms("99%"),
        "errors": int(errors.group(1)) if errors else 0,
        "generator": f"wrk -t1 -c{connections} -d{seconds}s",
    }


async def _httpx_load(base: str, event_id: int, requests: int, connections: int) -> Row:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                start = time.perf_counter()
                response = await client.post("/predict", json={"event_id": event_id})
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "req_per_s": requests / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "errors": errors,
        "generator": f"httpx asyncio, {requests:,} requests, {connections} connections (client-side latency)",
    }


def _swap_seconds(base: str, url: str, data_dir: Path, event_id: int) -> float:
    """From the promotion's commit to the first response served by the new version."""
    from betpipe.config import Settings
    from betpipe.db import make_engine
    from betpipe.live.training import train_model
    from betpipe.registry import promote

    settings = Settings(data_dir=data_dir, database_url=url)
    engine = make_engine(url)
    try:
        version = train_model(engine, sport="soccer", model="base_rates", settings=settings).version
        with httpx.Client(base_url=base, timeout=30) as client:
            promote(engine, version.id, reason="bench swap")
            started = time.perf_counter()
            while client.post("/predict", json={"event_id": event_id}).json()["model_version_id"] != version.id:
                if time.perf_counter() - started > 60:
                    raise RuntimeError("the new champion was not served within 60 s")
            return time.perf_counter() - started
    finally:
        engine.dispose()


def run(quick: bool = False) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="betpipe-bench-serving-"))
    try:
        url, now, scheduled, names = _build_store(workdir)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        context = multiprocessing.get_context("spawn")
        server = context.Process(target=_serve, args=(url, str(workdir / "data"), now.isoformat(), port), daemon=True)
        server.start()
        try:
            _wait_ready(base)
            return _measure(base, url, workdir, now, scheduled, names, quick)
        finally:
            server.terminate()
            server.join(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    base: str, url: str, workdir: Path, now: datetime, scheduled: list[int], names: list[str], quick: bool
) -> list[Row]:
    rows: list[Row] = []
    event_id = scheduled[0]
    for connections in (4, 16):  # 4: latency near service time; 16: throughput with queueing
        load_before = os.getloadavg()[0]
        if shutil.which("wrk"):
            single = _wrk(base, event_id, 5 if quick else 15, connections, workdir)
        else:
            single = asyncio.run(_httpx_load(base, event_id, 2_000 if quick else 10_000, connections))
        rows.append(
            {
                "benchmark": f"POST /predict, one event (1 uvicorn worker, {connections} connections)",
                **single,
                "load_avg_1m": f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}",
                "target": ">= 1,000 req/s, p99 < 5 ms",
            }
        )
    rng = np.random.default_rng(0)
    kickoff = (now + timedelta(days=2)).isoformat()
    home = rng.integers(0, len(names), 10_000)
    away = (home + rng.integers(1, len(names), 10_000)) % len(names)
    fixtures = [
        {"home_team": names[h], "away_team": names[a], "competition": "SAMPLE", "kickoff": kickoff}
        for h, a in zip(home, away, strict=True)
    ]
    ids = [{"event_id": int(scheduled[i % len(scheduled)])} for i in range(10_000)]
    with httpx.Client(base_url=base, timeout=60) as client:
        for label, queries in (("fixtures by teams", fixtures), ("scheduled event ids", ids)):
            timings = []
            for _ in range(1 if quick else 3):
                started = time.perf_counter()
                response = client.post("/predict/batch", json={"queries": queries})
                timings.append(time.perf_counter() - started)
                if response.status_code != 200 or response.json()["failed"]:
                    raise RuntimeError(f"batch failed: {response.text[:300]}")
            rows.append(
                {
                    "benchmark": f"POST /predict/batch, 10,000 {label}",
                    "seconds": min(timings),
                    "detail": f"best of {len(timings)}; all: {', '.join(f'{t:.3f}' for t in timings)} s",
                    "load_avg_1m": f"{os.getloadavg()[0]:.1f}",
                    "target": "< 1 s",
                }
            )
    swap = _swap_seconds(base, url, workdir / "data", event_id)
    rows.append(
        {
            "benchmark": f"promotion -> first response by the new champion (poll every {POLL_SECONDS} s)",
            "seconds": swap,
            "load_avg_1m": f"{os.getloadavg()[0]:.1f}",
            "target": "< 1 s, no failed request",
        }
    )
    return rows
