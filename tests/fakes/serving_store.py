"""A fresh sample-league store with a champion, and small helpers, for the serving tests (real server, real DB)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from betpipe.clock import FixedClock
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.db.schema import events, teams
from betpipe.features import build_features
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SampleLeagueConfig
from betpipe.live.training import train_model
from betpipe.registry import promote

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


@dataclass(frozen=True)
class Store:
    settings: Settings
    engine: Engine
    clock: FixedClock
    scheduled: list[int]  # scheduled event ids, by kickoff
    finished: int  # a played event id
    teams: list[str]
    champion_id: int


def make_store(url: str, data_dir: Path, **serving: object) -> Store:
    settings = Settings(data_dir=data_dir, database_url=url, serving={"alias_poll_seconds": 0.2, **serving})
    engine = make_engine(url)
    upgrade(engine)
    ingest_sample(engine, SampleLeagueConfig(n_teams=8, n_seasons=3))
    build_features(engine, settings=settings)
    version = train_model(engine, sport="soccer", model="elo_logit", settings=settings).version
    promote(engine, version.id, reason="test champion")
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.id, events.c.kickoff_utc, events.c.status).order_by(events.c.kickoff_utc, events.c.id)
        ).all()
    scheduled = [int(r.id) for r in rows if r.status == "scheduled"]
    first_kickoff = min(r.kickoff_utc for r in rows if r.status == "scheduled")
    clock = FixedClock(
        (first_kickoff if first_kickoff.tzinfo else first_kickoff.replace(tzinfo=UTC)) - timedelta(days=1)
    )
    with engine.connect() as conn:
        team_names = [str(n) for n in conn.execute(select(teams.c.name).order_by(teams.c.id)).scalars()]
    finished = next(int(r.id) for r in rows if r.status == "finished")
    return Store(settings, engine, clock, scheduled, finished, team_names, version.id)


def wait_ready(client: httpx.Client, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/ready")
        if response.status_code == 200:
            body: dict[str, object] = response.json()
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"service not ready: {response.text}")
        time.sleep(0.05)


def fixture_query(store: Store, *, days: float = 3.0, home: int = 0, away: int = 1) -> dict[str, object]:
    return {
        "home_team": store.teams[home],
        "away_team": store.teams[away],
        "competition": "SAMPLE",
        "kickoff": (store.clock.now() + timedelta(days=days)).isoformat(),
    }
