"""Rows for monitoring tests and the benchmark, inserted in bulk with SQLAlchemy Core: events with or without
results, a registered model version with a champion alias, served predictions, and settled or open bets.

Writes straight into the tables the producers own (events, registry, ledger) so a test can plant exactly the
situation it needs; the monitoring code under test then reads them as it would in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, insert, select

from betpipe.db.schema import competitions, events, results, teams
from betpipe.db.schema_betting import bets
from betpipe.db.schema_registry import model_aliases, model_versions, shadow_predictions
from betpipe.registry.versions import ModelVersion

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def seed_events(
    engine: Engine,
    kickoffs: Sequence[datetime],
    *,
    competition: str = "E0",
    settled: bool | Sequence[bool] = True,
    seed: int = 0,
) -> list[int]:
    """One match per kickoff between two teams; ``settled`` rows get a random score and status ``finished``."""
    rng = np.random.default_rng(seed)
    flags = [settled] * len(kickoffs) if isinstance(settled, bool) else list(settled)
    with engine.begin() as conn:
        comp = conn.execute(select(competitions.c.id).where(competitions.c.code == competition)).scalar()
        if comp is None:
            comp = conn.execute(
                insert(competitions)
                .values(sport="soccer", code=competition, name=competition)
                .returning(competitions.c.id)
            ).scalar_one()
        team_ids = []
        for name in (f"{competition} Home", f"{competition} Away"):
            found = conn.execute(select(teams.c.id).where(teams.c.sport == "soccer", teams.c.name == name)).scalar()
            if found is None:
                found = conn.execute(insert(teams).values(sport="soccer", name=name).returning(teams.c.id)).scalar_one()
            team_ids.append(found)
        start = conn.execute(select(events.c.id).order_by(events.c.id.desc()).limit(1)).scalar() or 0
        rows = [
            {
                "natural_key": f"test:{competition}:{start + i}:{kickoff.isoformat()}",
                "sport": "soccer",
                "competition_id": comp,
                "kickoff_utc": kickoff,
                "kickoff_time_known": True,
                "home_team_id": team_ids[0],
                "away_team_id": team_ids[1],
                "status": "finished" if flags[i] else "scheduled",
                "neutral_site": False,
                "source": "test",
            }
            for i, kickoff in enumerate(kickoffs)
        ]
        conn.execute(insert(events), rows)
        ids = [
            int(i)
            for i in conn.execute(
                select(events.c.id)
                .where(events.c.natural_key.in_([r["natural_key"] for r in rows]))
                .order_by(events.c.id)
            ).scalars()
        ]
        scores = rng.poisson(1.4, size=(len(ids), 2))
        done = [
            {"event_id": event_id, "home_score": int(h), "away_score": int(a), "source": "test"}
            for event_id, (h, a), flag in zip(ids, scores, flags, strict=True)
            if flag
        ]
        if done:
            conn.execute(insert(results), done)
    return ids


def seed_model(
    engine: Engine,
    *,
    version: int = 1,
    alias: str | None = "champion",
    start: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2024, 6, 1, tzinfo=UTC),
) -> int:
    lineage = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "row_count": 100,
        "data_hash": "test",
        "feature_set_versions": {},
        "seasons": [],
    }
    with engine.begin() as conn:
        version_id = conn.execute(
            insert(model_versions)
            .values(
                sport="soccer",
                market="1x2",
                model_type="test",
                version=version,
                artifact_sha256=f"{version:064d}",
                lineage=lineage,
                params={},
                metrics={},
                code_version="test",
                created_at=start,
            )
            .returning(model_versions.c.id)
        ).scalar_one()
        if alias is not None:
            conn.execute(
                insert(model_aliases).values(
                    sport="soccer", market="1x2", alias=alias, version_id=version_id, moved_at=end
                )
            )
    return int(version_id)


def seed_predictions(
    engine: Engine, version_id: int, event_ids: Sequence[int], *, recorded_at: datetime = NOW, seed: int = 0
) -> np.ndarray[Any, Any]:
    """Dirichlet 1X2 probabilities, made a day before each recording instant."""
    probabilities = np.random.default_rng(seed).dirichlet([4.0, 2.5, 3.0], size=len(event_ids))
    rows = [
        {
            "version_id": version_id,
            "event_id": event_id,
            "probabilities": [float(x) for x in p],
            "as_of": recorded_at - timedelta(days=1),
            "recorded_at": recorded_at,
        }
        for event_id, p in zip(event_ids, probabilities, strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(insert(shadow_predictions), rows)
    return probabilities


def seed_bets(
    engine: Engine,
    *,
    pnl_cents: Sequence[int | None],
    clv: Sequence[float | None],
    settled_at: Sequence[datetime | None],
    stake_cents: int = 1000,
    account: str = "paper",
    model_version: int | None = 1,
    competition: str = "E0",
    first_event_id: int = 1,
) -> None:
    """Bets with the given P&L (None: still open, state placed); the state follows the sign of the P&L."""
    rows = []
    for i, (pnl, value, at) in enumerate(zip(pnl_cents, clv, settled_at, strict=True)):
        state = "placed" if pnl is None else ("won" if pnl > 0 else "lost" if pnl < 0 else "void")
        placed = (at or NOW) - timedelta(hours=3)
        rows.append(
            {
                "idempotency_key": f"{account}:{first_event_id + i}:{placed.isoformat()}",
                "account": account,
                "event_id": first_event_id + i,
                "market": "1x2",
                "selection": "home",
                "line": 0.0,
                "requested_price_e4": 21000,
                "price_e4": 21000,
                "stake_cents": stake_cents,
                "probability": 0.5,
                "edge": 0.05,
                "book": "paper",
                "strategy": "test",
                "model_version": model_version,
                "competition": competition,
                "kickoff": placed + timedelta(hours=1),
                "decision_time": placed,
                "state": state,
                "created_at": placed,
                "placed_at": placed,
                "settled_at": at if pnl is not None else None,
                "pnl_cents": pnl,
                "clv": value,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(bets), rows)


class PlantedFeatures:
    """Training rows N(0, 1); live rows N(shift, 1) for ``f_shifted``, unchanged for ``f_stable``."""

    def __init__(self, shift: float, live_rows: int = 300) -> None:
        self.shift, self.live_rows, self.reference_calls = shift, live_rows, 0

    def reference(self, version: ModelVersion) -> pl.DataFrame:
        self.reference_calls += 1
        rng = np.random.default_rng(7)
        return pl.DataFrame({"event_id": np.arange(5000), "f_shifted": rng.normal(0, 1, 5000)}).with_columns(
            pl.Series("f_stable", rng.normal(0, 1, 5000))
        )

    def live(self, version: ModelVersion, start: datetime, end: datetime) -> pl.DataFrame:
        rng = np.random.default_rng(8)
        n = self.live_rows
        return pl.DataFrame({"f_shifted": rng.normal(self.shift, 1, n), "f_stable": rng.normal(0, 1, n)})
