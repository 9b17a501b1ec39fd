"""The live pipeline's stages as idempotent library functions, each ``(engine, settings, clock) -> StageResult``:
refresh odds, results + settlement, feature update, predictions for upcoming events, the betting run, the weekly
retrain that promotes a challenger only when it beats the champion on recent data with a CI, and the model of the
close's retrain behind the same gate.

``live.scheduler`` runs them on intervals and records every run; ``betpipe run --once`` runs each once. Running a
stage twice on the same input changes nothing: ingest upserts, features rebuild only when the source tables moved,
predictions are keyed (version, event), bets by their idempotency key, settlement reads only open bets. Must never
read the wall clock (the caller's clock decides "now") and never place a bet outside ``live.betting_run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.betting import list_bets, load_settlement_inputs, settle_bets
from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.ingest.store import IngestReport
from betpipe.live.betting_run import betting_run
from betpipe.live.opportunities import live_strategy_spec
from betpipe.logs import get_logger
from betpipe.registry import ModelVersion
from betpipe.sports import sport_rules

__all__ = [
    "STAGES",
    "StageResult",
    "place_bets_stage",
    "record_predictions",
    "refresh_odds",
    "refresh_results",
    "retrain",
    "retrain_close_model",
    "settle",
    "update_features",
]

log = get_logger(__name__)
CI_Z = 1.96  # two-sided 95 % normal interval of the paired log-loss difference


@dataclass(frozen=True)
class StageResult:
    """What a stage did: rows it touched (inserted/updated/settled/placed) and a JSON-safe summary."""

    rows: int
    details: dict[str, Any] = field(default_factory=dict)


def data_source(settings: Settings) -> str:
    """``odds_api`` when a key is configured, else ``football_data`` for configured leagues, else ``none``."""
    chosen = settings.pipeline.source
    if chosen != "auto":
        return chosen
    if settings.odds_api.api_key is not None and settings.pipeline.odds_api_sports:
        return "odds_api"
    if settings.pipeline.football_data_leagues and settings.pipeline.football_data_season:
        return "football_data"
    return "none"


def _touched(report: IngestReport) -> int:
    return sum(counts.inserted + counts.updated for counts in report.tables.values())


def _football_data(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    from betpipe.ingest.football_data import ingest_football_data_download
    from betpipe.ingest.http import RateLimitedClient

    season = settings.pipeline.football_data_season
    rows = 0
    with RateLimitedClient(
        settings.football_data.base_url,
        requests_per_second=settings.football_data.requests_per_second,
        timeout_seconds=30.0,
        max_attempts=4,
        source="football-data",
    ) as client:
        for league in settings.pipeline.football_data_leagues:
            rows += _touched(ingest_football_data_download(engine, client, league, str(season), clock=clock))
    return StageResult(rows, {"source": "football_data", "leagues": list(settings.pipeline.football_data_leagues)})


def refresh_odds(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Current prices: The Odds API snapshots, or a football-data download; nothing in sample/demo mode."""
    source = data_source(settings)
    if source == "odds_api":
        from betpipe.ingest.odds_api import ingest_odds_api

        rows = 0
        for key in settings.pipeline.odds_api_sports:
            rows += _touched(ingest_odds_api(engine, settings, key, ["h2h"]))
        return StageResult(rows, {"source": source, "sports": list(settings.pipeline.odds_api_sports)})
    if source == "football_data":
        return _football_data(engine, settings, clock)
    return StageResult(0, {"source": "none"})


def settle(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Settle the live account's open bets from stored results; CLV against the live strategy's sharp book's
    margin-free close."""
    account = settings.pipeline.account
    open_bets = list_bets(engine, account=account, state="open", limit=None)
    if not open_bets:
        return StageResult(0, {"open": 0})
    results, closing = load_settlement_inputs(
        engine, [bet.event_id for bet in open_bets], reference_book=live_strategy_spec(settings, engine).sharp_book
    )
    report = settle_bets(engine, account=account, results=results, closing=closing, clock=clock)
    return StageResult(
        len(report.settled),
        {"by_grade": report.by_grade, "pnl": str(report.pnl), "still_open": len(report.still_open)},
    )


def _sample_config(engine: Engine) -> Any:
    """The sample league config last ingested (its raw payload), or None when the store holds no sample league."""
    from sqlalchemy import select

    from betpipe.db.schema import raw_payloads
    from betpipe.ingest.sample_league import SOURCE
    from betpipe.ingest.sample_league_model import SampleLeagueConfig

    with engine.connect() as conn:
        body = conn.execute(
            select(raw_payloads.c.body)
            .where(raw_payloads.c.source == SOURCE)
            .order_by(raw_payloads.c.fetched_at.desc(), raw_payloads.c.id.desc())
            .limit(1)
        ).scalar()
    return None if body is None else SampleLeagueConfig.from_json(bytes(body))


def play_sample_league(engine: Engine, clock: Clock) -> int:
    """The sample league's results feed: every unplayed matchday whose last kickoff + the match duration is past the
    clock's now gets its generated result (the same seed generates the same scores). Rows touched."""
    from dataclasses import replace

    from betpipe.ingest.sample_league import generate_fixtures_frame, ingest_sample

    config = _sample_config(engine)
    if config is None or config.n_upcoming_matchdays == 0:
        return 0
    now = as_utc_instant(clock.now())
    duration = sport_rules(config.sport).duration
    per_league = config.n_seasons * (config.n_teams - 1) * config.n_teams  # rounds x matches per round
    frames = generate_fixtures_frame(per_league, seed=config.seed, config=config)
    upcoming = frames.events.filter(pl.col("status") == "scheduled")
    last_kickoff = upcoming.group_by("matchday").agg(pl.col("kickoff_utc").max()).sort("matchday")
    played = sum(1 for kickoff in last_kickoff.get_column("kickoff_utc").to_list() if as_utc(kickoff) + duration <= now)
    if played == 0:
        return 0
    return _touched(ingest_sample(engine, replace(config, n_upcoming_matchdays=config.n_upcoming_matchdays - played)))


def refresh_results(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """New results (scores from The Odds API, the football-data file, or the sample league's next matchdays once
    they are over), then settlement of what they decide."""
    source = data_source(settings)
    fetched = 0
    if source == "none":
        fetched = play_sample_league(engine, clock)
    elif source == "odds_api":
        from betpipe.ingest.odds_api import ingest_odds_api_scores

        for key in settings.pipeline.odds_api_sports:
            fetched += _touched(ingest_odds_api_scores(engine, settings, key))
    elif source == "football_data":
        fetched = _football_data(engine, settings, clock).rows
    settled = settle(engine, settings, clock)
    return StageResult(fetched + settled.rows, {"source": source, "fetched": fetched, **settled.details})


def update_features(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Rebuild the sport's feature store when the source tables changed since the newest build; else nothing."""
    from betpipe.features.source import fingerprint
    from betpipe.features.store import build_features, latest_build

    sport = settings.pipeline.sport
    latest = latest_build(engine, sport, settings)
    if latest is not None and latest.source_fingerprint == fingerprint(engine):
        return StageResult(0, {"build_id": latest.build_id, "rebuilt": False})
    report = build_features(engine, sport=sport, settings=settings, clock=clock)
    build = report.builds[0]
    return StageResult(build.events, {"build_id": build.build_id, "rebuilt": True})


def record_predictions(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Champion (and challenger, for the A/B report) probabilities of every upcoming event, stored per version."""
    from betpipe.predict import load_feature_snapshot, predict_frame
    from betpipe.registry import CHALLENGER, ModelCache, alias_version, record_shadow_predictions

    sport = settings.pipeline.sport
    market = sport_rules(sport).prediction_market
    features = load_feature_snapshot(engine, sport, settings)
    if features is None:
        return StageResult(0, {"note": "no feature build yet"})
    now = as_utc_instant(clock.now())
    kickoff_ms = features.upcoming_kickoff_ms
    wanted = kickoff_ms > int(now.timestamp() * 1000)
    if settings.pipeline.competitions:
        wanted &= features.upcoming["competition"].is_in(settings.pipeline.competitions).to_numpy()
    rows = np.flatnonzero(wanted)
    if rows.size == 0:
        return StageResult(0, {"events": 0})
    cache = ModelCache(engine, settings)
    loaded = [cache.get_champion(sport, market)]
    challenger = alias_version(engine, sport, market, CHALLENGER)
    if challenger is not None and challenger.id != loaded[0].version.id:
        loaded.append(cache.get(challenger.id))
    upcoming = features.upcoming[rows.tolist()]
    ids = upcoming.get_column("event_id").to_list()
    inserted: dict[str, int] = {}
    for model in loaded:
        proba = predict_frame(model.model, upcoming)
        report = record_shadow_predictions(engine, model.version.id, ids, proba, now, clock=clock)
        inserted[str(model.version.id)] = report.inserted
    return StageResult(sum(inserted.values()), {"events": len(ids), "inserted_by_version": inserted})


def place_bets_stage(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """The live betting run through the ledger (idempotent: a rerun finds every decision already recorded)."""
    run = betting_run(engine, settings, clock)
    placements = run.placements
    rejected: dict[str, int] = {}
    for result in placements:
        if result.state == "rejected" and not result.duplicate and result.reason:
            rejected[result.reason] = rejected.get(result.reason, 0) + 1
    return StageResult(
        run.placed,
        {
            "candidates": len(run.opportunities.decision.candidates),
            "placed": run.placed,
            "duplicates": sum(1 for r in placements if r.duplicate),
            "rejected": rejected,
            "no_bet": run.opportunities.decision.no_bet,
            "model_version": run.opportunities.model_version,
            "notes": run.opportunities.notes,
        },
    )


Comparison = Callable[[ModelVersion, datetime], tuple[int, float, float] | None]
"""(champion, after) -> (rows, mean paired loss difference candidate − champion, its standard error) on played
events after ``after``, or None when there are too few."""


def _gate(
    engine: Engine,
    clock: Clock,
    candidate: ModelVersion,
    compare: Comparison,
    *,
    job: str,
    measure: tuple[str, str],
    details: dict[str, Any],
) -> StageResult:
    """The champion/challenger gate every retrain job shares: a freshly registered ``candidate`` becomes champion
    when there is none, else challenger, and champion only if its paired ``measure`` (details key, words) difference
    to the champion, on played events after both versions' training data, has a 95 % CI below 0."""
    from betpipe.registry import CHALLENGER, CHAMPION, alias_version, promote

    sport, market = candidate.sport, candidate.market
    champion = alias_version(engine, sport, market, CHAMPION)
    if champion is None:
        promote(engine, candidate.id, CHAMPION, reason=f"{job}: no champion yet", actor="scheduler", clock=clock)
        return StageResult(1, details | {"promoted": True, "why": "no champion yet"})
    if champion.id == candidate.id:
        return StageResult(0, details | {"promoted": False, "why": "the champion is this very version"})
    current = alias_version(engine, sport, market, CHALLENGER)
    if current is None or current.id != candidate.id:
        promote(engine, candidate.id, CHALLENGER, reason=f"{job}: new challenger", actor="scheduler", clock=clock)
    compared = compare(champion, max(champion.lineage.end, candidate.lineage.end))
    if compared is None:
        return StageResult(1, details | {"promoted": False, "why": "no played events after both training ranges"})
    rows, diff, se = compared
    high = diff + CI_Z * se
    key, words = measure
    details |= {"rows": rows, f"{key}_diff": diff, "ci_high": high}
    if high < 0:
        reason = f"{job}: {words} {diff:+.4f}, CI < 0"
        promote(engine, candidate.id, CHAMPION, reason=reason, actor="scheduler", clock=clock)
        return StageResult(1, details | {"promoted": True})
    why = f"CI of the {key.replace('_', '-')} difference includes 0"
    return StageResult(1, details | {"promoted": False, "why": why})


def retrain(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Register a challenger trained up to ``retrain_holdout_days`` ago and promote it only if, on played events
    after both versions' training data, its paired log-loss difference to the champion has a 95 % CI below 0."""
    from betpipe.live.training import comparison_rows, train_model
    from betpipe.registry import compare_versions

    p = settings.pipeline
    end = as_utc_instant(clock.now()) - timedelta(days=p.retrain_holdout_days)
    trained = train_model(engine, sport=p.sport, model=p.retrain_model, settings=settings, end=end)

    def compare(champion: ModelVersion, after: datetime) -> tuple[int, float, float] | None:
        frame, labels, out_of_sample = comparison_rows(engine, sport=p.sport, after=after, settings=settings)
        if not out_of_sample or frame.height < 2:
            return None
        report = compare_versions(engine, champion.id, trained.version.id, frame, labels, settings=settings)
        return report.rows, report.differences["log_loss"], report.log_loss_difference_se

    details: dict[str, Any] = {"challenger": trained.version.id, "trained_to": end.isoformat()}
    return _gate(
        engine, clock, trained.version, compare, job="retrain", measure=("log_loss", "log loss"), details=details
    )


def retrain_close_model(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """Refit the model of the close on matches kicked off up to ``retrain_holdout_days`` ago and register it; it
    replaces the champion by ``_gate`` alone, on cross-entropy against the close (the model's own target). Runs only
    while the live strategy prices with it, or always / never as ``scheduler.close_retrain`` says; skipped, it
    touches nothing. A store that cannot train it (too few closes) fails the job, and the failure is alerted."""
    from betpipe.live.close_source import (
        CLOSE_MARKET,
        CLOSE_MODEL,
        close_history,
        close_loss_difference,
        train_close_model,
    )
    from betpipe.registry import CHAMPION, alias_version

    mode = settings.scheduler.close_retrain
    if mode == "off":
        return StageResult(0, {"skipped": "scheduler.close_retrain is off"})
    if mode == "auto":
        spec = live_strategy_spec(settings, engine)
        if spec.source == "market" or spec.model != CLOSE_MODEL:
            return StageResult(0, {"skipped": f"the live strategy does not price with {CLOSE_MODEL}"})
    now = as_utc_instant(clock.now())
    end = now - timedelta(days=settings.pipeline.retrain_holdout_days)
    champion = alias_version(engine, "soccer", CLOSE_MARKET, CHAMPION)
    method = str(champion.params.get("method", "multiplicative")) if champion is not None else "multiplicative"
    history = close_history(engine, settings)  # read once: the refit's rows and the later closes it is judged on
    trained = train_close_model(
        engine, settings, until=end, method=method, make_champion=False, clock=clock, history=history
    )

    def compare(current: ModelVersion, after: datetime) -> tuple[int, float, float] | None:
        return close_loss_difference(engine, settings, current, trained, after=after, before=now, history=history)

    details: dict[str, Any] = {"challenger": trained.id, "trained_to": end.isoformat(), "method": method}
    measure = ("cross_entropy", "cross-entropy vs the close")
    return _gate(engine, clock, trained, compare, job="close_retrain", measure=measure, details=details)


STAGES = {
    "odds": refresh_odds,
    "results": refresh_results,
    "features": update_features,
    "predictions": record_predictions,
    "betting": place_bets_stage,
    "retrain": retrain,
    "close_retrain": retrain_close_model,
}
"""Job name -> stage, in the order one ``betpipe run --once`` cycle runs them."""
