"""A small sample-league store ready for the live pipeline (features built, an Elo champion promoted), and the
settings a live run on it needs. Shared by the pipeline, scheduler and serving-bets tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from betpipe.config import PipelineSettings, RiskSettings, ServingSettings, Settings
from betpipe.features.store import build_features
from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
from betpipe.live.prices import next_matchday_eve
from betpipe.live.training import train_model
from betpipe.registry import promote

LEAGUE = SampleLeagueConfig(n_teams=8, n_seasons=3, n_upcoming_matchdays=3)
TOKEN = "test-token-1234"


def live_settings(database_url: str, data_dir: Path, **pipeline: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        pipeline=PipelineSettings(book="sample_soft", sharp_book="sample_sharp", source="none", **pipeline),  # type: ignore[arg-type]
        risk=RiskSettings(max_price_age_seconds=4 * 86400.0),
        serving=ServingSettings(api_token=TOKEN, alias_poll_seconds=0.2),  # type: ignore[arg-type]
    )


def prepare_store(engine: Engine, settings: Settings) -> datetime:
    """Ingest, build features, train and promote; returns the eve of the next matchday (the live "now")."""
    ingest_sample(engine, LEAGUE)
    build_features(engine, sport="soccer", settings=settings)
    result = train_model(engine, sport="soccer", model="elo_logit", settings=settings)
    promote(engine, result.version.id, "champion", reason="test", actor="test")
    eve = next_matchday_eve(engine, "soccer")
    assert eve is not None
    return eve


AFTER_MATCHDAY = timedelta(days=4)
