"""The service's money routes against a real uvicorn on 127.0.0.1: the end-to-end run of issue 10 (one scheduler
cycle on the sample league, then predictions, bets, settlement and metrics seen through the HTTP API, on SQLite and
a fresh PostgreSQL schema), and the bearer token on POST /bets (the read routes' tokens:
test_serving_guard_body_and_tokens.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from betpipe.clock import FixedClock
from betpipe.live.scheduler import run_once
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from pipeline_store import AFTER_MATCHDAY, TOKEN, live_settings, prepare_store

PROBLEM = "application/problem+json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # the write token opens the ledger's read routes too


def _ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 120
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.2)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_end_to_end_one_cycle_then_predictions_bets_settlement_and_metrics_over_http(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = live_settings(database_url, tmp_path, strategy="blend")  # bets carry the champion
    eve = prepare_store(engine, settings)
    app = create_app(settings, clock=FixedClock(eve), engine=engine)
    with background_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        _ready(client)
        assert client.get("/bets", headers=AUTH).json() == {"bets": []}

        cycle = run_once(engine, settings, FixedClock(eve))
        assert all(run.status == "succeeded" for run in cycle), [run.error for run in cycle]

        bets: list[dict[str, Any]] = client.get("/bets", headers=AUTH).json()["bets"]
        placed = [bet for bet in bets if bet["state"] == "placed"]
        assert placed
        assert all(bet["book"] == "sample_soft" and bet["model_version_id"] is not None for bet in placed)
        prediction = client.post("/predict", json={"event_id": placed[0]["event_id"]})
        assert prediction.status_code == 200
        assert prediction.json()["model_version_id"] == placed[0]["model_version_id"]

        offers = client.get("/opportunities", headers=AUTH).json()
        assert offers["opportunities"]
        decided = {(o["event_id"], o["selection"]): o["rejection"] for o in offers["opportunities"]}
        for bet in placed:
            assert decided[(bet["event_id"], bet["selection"])] == "already in the ledger (same decision)"

        repeat = client.post("/bets", json={}, headers=AUTH)
        assert repeat.status_code == 200
        assert repeat.json()["placed"] == 0
        assert all(p["duplicate"] for p in repeat.json()["placements"])

        assert run_once(engine, settings, FixedClock(eve + AFTER_MATCHDAY), jobs=["results"])[0].rows
        settled = client.get("/bets", params={"state": "settled"}, headers=AUTH).json()["bets"]
        assert settled
        assert all(bet["pnl"] is not None and bet["settled_at"] is not None for bet in settled)

        metrics = client.get("/metrics", headers=AUTH).text
        settled_count = sum(_metric(metrics, "betpipe_bets", account="paper", state=s) for s in ("won", "lost"))
        assert settled_count == len([b for b in settled if b["state"] in ("won", "lost")])
        assert _metric(metrics, "betpipe_predictions_total", arm="champion") >= 1
        assert "betpipe_http_request_duration_seconds_bucket" in metrics


@pytest.mark.parametrize(
    ("headers", "status", "type_"),
    [
        ({}, 401, "urn:betpipe:problem:missing-token"),
        ({"Authorization": "Basic abc"}, 401, "urn:betpipe:problem:missing-token"),
        ({"Authorization": "Bearer wrong-token"}, 403, "urn:betpipe:problem:invalid-token"),
    ],
)
def test_post_bets_without_the_right_token_is_a_problem_and_places_nothing(
    sqlite_engine: Engine, tmp_path: Path, headers: dict[str, str], status: int, type_: str
) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    eve = prepare_store(sqlite_engine, settings)
    app = create_app(settings, clock=FixedClock(eve), engine=sqlite_engine)
    with background_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        _ready(client)
        refused = client.post("/bets", json={}, headers=headers)
        assert refused.status_code == status
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["type"] == type_
        assert TOKEN not in refused.text
        assert client.get("/bets", headers=AUTH).json() == {"bets": []}
        accepted = client.post("/bets", json={}, headers=AUTH)
        assert accepted.status_code == 200
        assert accepted.json()["placed"] > 0
        assert (
            len(client.get("/bets", params={"state": "open"}, headers=AUTH).json()["bets"]) == accepted.json()["placed"]
        )
        assert client.post("/bets", json={"event_ids": "x"}, headers=headers).status_code == status  # token first
