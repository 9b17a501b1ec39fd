"""The FastAPI app: health, readiness, predictions (one and batch), registered models, Prometheus metrics, and the
betting routes (``/opportunities``, ``/bets``; ``serving.betting``) mounted beside them.

Handlers read the current ``ServingSnapshot`` once and answer from memory; the poller swaps snapshots, the recorder
stores served predictions in the background. A scheduled event's answer is bytes the snapshot encoded when it was
built (``answers``); a one-event request by id is answered by ``fastpath`` in front of the router, the same bytes.
Every error is problem JSON (``problems``); every body is capped at ``serving.max_body_bytes`` (``limits``); the
ledger's routes and /metrics need a bearer token (``auth``). Must never load a model or build features on a request
path, write to the database on a prediction path, or answer with a stack trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.config import Settings
from betpipe.db import make_engine
from betpipe.predict import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    Fixtures,
    UnknownCompetitionError,
    UnknownTeamError,
)
from betpipe.registry import list_versions
from betpipe.serving import problems
from betpipe.serving.answers import batch_body, encode, prediction_body
from betpipe.serving.auth import read_guard
from betpipe.serving.docs import install_docs, keep_null_examples
from betpipe.serving.fastpath import EventFastPath
from betpipe.serving.limits import BodyLimitMiddleware
from betpipe.serving.metrics import MetricsMiddleware, ServiceMetrics
from betpipe.serving.problems import PROBLEM_JSON, ProblemError
from betpipe.serving.recorder import PredictionRecorder
from betpipe.serving.schemas import (
    DEMO_AS_OF,
    DEMO_EVENT_ID,
    FIXTURE_EXAMPLE,
    BatchRequest,
    BatchResponse,
    EventQuery,
    FixtureQuery,
    Health,
    ModelInfo,
    ModelsResponse,
    Prediction,
    PredictQuery,
    Problem,
    Readiness,
    SportStatus,
)
from betpipe.serving.state import ServingSnapshot, ServingState

DB_CONNECT_TIMEOUT_SECONDS = 3
JSON = "application/json"

DESCRIPTION = f"""Units: money is a decimal string in the account currency (`bankroll.currency`, EUR by default); prices
are decimal odds; probabilities, edges and CLV are fractions (0.05 = 5 %); instants are UTC, ISO-8601.

The examples name the sample league store that `make demo` builds; serve it with
`betpipe serve --as-of {DEMO_AS_OF.removesuffix("Z")}` (the eve of its next matchday) and they all answer 2xx.
The ledger's routes and /metrics need a bearer token (**Authorize**): `serving.read_token` or `serving.api_token`."""

# POST /predict's two shapes, offered as a drop-down in /docs.
PREDICT_EXAMPLES: dict[str, Any] = {
    "event": {"summary": "A scheduled event by id", "value": {"event_id": DEMO_EVENT_ID}},
    "fixture": {"summary": "A fixture by teams, competition and kickoff", "value": FIXTURE_EXAMPLE},
    "fixture_markets": {
        "summary": "A fixture with its main markets (fitted on the request)",
        "value": {**FIXTURE_EXAMPLE, "markets": "main"},
    },
    "all_markets": {
        "summary": "Every line: O/U 0.5..5.5 and AH -3..+3 in quarter steps, double chance, DNB, correct score",
        "value": {"event_id": DEMO_EVENT_ID, "markets": "all"},
    },
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {s: {"model": Problem, "content": {PROBLEM_JSON: ref}, "description": "Problem details"} for s in statuses}


def service_engine(settings: Settings) -> Engine:
    """The configured database; PostgreSQL gets a connect timeout so a dead server fails fast instead of hanging."""
    url = settings.effective_database_url
    if url.startswith("postgresql"):
        return make_engine(url, connect_args={"connect_timeout": DB_CONNECT_TIMEOUT_SECONDS})
    return make_engine(url)


class PredictionService:
    """The request logic, apart from FastAPI so the CLI and tests can call it too."""

    def __init__(self, state: ServingState, recorder: PredictionRecorder, metrics: ServiceMetrics) -> None:
        self.state = state
        self.recorder = recorder
        self.metrics = metrics

    def snapshot(self) -> ServingSnapshot:
        snapshot = self.state.snapshot
        if snapshot is None or not snapshot.predictors:
            raise problems.not_ready(self._why_not_ready(snapshot))
        return snapshot

    def _why_not_ready(self, snapshot: ServingSnapshot | None) -> str:
        health = self.state.health
        if not health.database_ok and health.database_error:
            return f"database unreachable ({health.database_error}); models not loaded yet"
        if snapshot is None:
            return f"models not loaded yet{f' ({health.refresh_error})' if health.refresh_error else ''}"
        notes = "; ".join(snapshot.notes)
        return "no champion model loaded: train and promote one (`betpipe train --promote`)" + (
            f"; {notes}" if notes else ""
        )

    def event(self, snapshot: ServingSnapshot, event_id: int, now: datetime, depth: str = "main") -> bytes:
        """One scheduled event's encoded ``Prediction``: a lookup in the snapshot (its probabilities, markets and
        answer bytes were computed when it was loaded); only the kickoff check, metrics and recorder run here."""
        answer = snapshot.answers.get(event_id)
        if answer is None:
            raise problems.unknown_event(event_id)
        if answer.kickoff <= now:
            raise problems.kickoff_in_past(
                f"event {event_id} kicked off at {answer.kickoff.isoformat()}; predictions are made before kickoff"
            )
        body = answer.body(depth)
        self.metrics.served(answer.sport, answer.version_id, answer.arm)
        self.recorder.record(answer.version_id, event_id, answer.probabilities, now)
        return body

    def fixtures(
        self, snapshot: ServingSnapshot, queries: list[tuple[int, FixtureQuery]], now: datetime
    ) -> dict[int, dict[str, Any] | ProblemError]:
        """Fixtures by teams: checked one by one, then one feature pass and one model call per sport."""
        out: dict[int, dict[str, Any] | ProblemError] = {}
        by_sport: dict[str, list[tuple[int, FixtureQuery]]] = {}
        for index, query in queries:
            sport = snapshot.sport_of_competition.get(query.competition)
            if sport is None:
                known = ", ".join(sorted(snapshot.sport_of_competition))
                out[index] = problems.unknown_competition(f"no competition {query.competition!r}; known: {known}")
            elif query.kickoff <= now:
                out[index] = problems.kickoff_in_past(f"kickoff {query.kickoff.isoformat()} is not in the future")
            else:
                by_sport.setdefault(sport, []).append((index, query))
        for sport, items in by_sport.items():
            predictor = snapshot.predictors[sport]
            valid: list[tuple[int, FixtureQuery]] = []
            for index, query in items:
                try:
                    home, away = (
                        predictor.features.team_id(query.home_team),
                        predictor.features.team_id(query.away_team),
                    )
                except UnknownTeamError as error:
                    out[index] = problems.unknown_team(str(error))
                    continue
                if home == away:
                    out[index] = ProblemError(422, "same-team", "Same team twice", "home and away are the same team")
                    continue
                valid.append((index, query))
            if not valid:
                continue
            fixtures = Fixtures(
                home_team=[q.home_team for _, q in valid],
                away_team=[q.away_team for _, q in valid],
                competition=[q.competition for _, q in valid],
                kickoff=[q.kickoff for _, q in valid],
                neutral_site=[q.neutral_site for _, q in valid],
            )
            try:
                predictions = predictor.fixtures(fixtures)
            except UnknownCompetitionError as error:  # a competition of another sport's build
                for index, _ in valid:
                    out[index] = problems.unknown_competition(str(error))
                continue
            names = predictor.features.team_names
            proba = predictions.probabilities.tolist()
            rows = predictions.rows.to_dicts()
            wanted = [position for position, (_, q) in enumerate(valid) if q.markets != "none"]
            bodies = predictor.fixture_markets(
                predictions.probabilities[wanted],
                [valid[position][1].competition for position in wanted],
                frozenset(valid[position][1].markets for position in wanted),
            )
            at = {position: order for order, position in enumerate(wanted)}
            for position, ((index, query), row, p) in enumerate(zip(valid, rows, proba, strict=True)):
                record = {
                    "event_id": None,
                    "competition": row["competition"],
                    "kickoff": row["kickoff_utc"],
                    "home_team": names.get(row["home_team_id"], str(row["home_team_id"])),
                    "away_team": names.get(row["away_team_id"], str(row["away_team_id"])),
                }
                markets = None
                if bodies is not None and position in at:
                    markets = (bodies.full if query.markets == "all" else bodies.main)[at[position]]
                out[index] = prediction_body(predictor, record, p, predictor.champion.version, CHAMPION_ARM, markets)
            self.metrics.served(sport, predictor.champion.version.id, CHAMPION_ARM, len(valid))
        return out


def create_app(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    engine: Engine | None = None,
    background: bool = True,
    fast_path: bool = True,
) -> FastAPI:
    """The service. ``background=False`` leaves polling and writing to the caller (``state.refresh``/``flush``);
    ``fast_path=False`` sends one-event queries through the router too (``fastpath``; tests compare the two)."""
    owns_engine = engine is None
    engine = engine or service_engine(settings)
    metrics = ServiceMetrics()
    state = ServingState(engine, settings, clock)
    recorder = PredictionRecorder(engine, clock, on_write=lambda o, n: metrics.shadow_writes.labels(o).inc(n))
    service = PredictionService(state, recorder, metrics)

    def on_swap(snapshot: ServingSnapshot) -> None:
        metrics.swaps.inc()
        metrics.loaded.clear()
        for sport, predictor in snapshot.predictors.items():
            metrics.loaded.labels(sport, str(predictor.champion.version.id), CHAMPION_ARM).set(1)
            if predictor.challenger is not None:
                metrics.loaded.labels(sport, str(predictor.challenger.version.id), CHALLENGER_ARM).set(1)

    state.on_swap = on_swap

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        """Start the poller and the recorder; on shutdown (or a failed start) stop both, waiting for them, before
        the engine goes: a thread left polling outlives the app and fails against whatever the database became."""
        try:
            if background:
                state.start(settings.serving.alias_poll_seconds)
                recorder.start()
            yield
        finally:
            state.stop()
            recorder.stop()
            if owns_engine:
                engine.dispose()

    app = FastAPI(
        title="betpipe prediction service",
        version="1",
        summary="Calibrated probabilities for scheduled events and named fixtures, from the registry's champion.",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the app's own assets (serving.docs), not from a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.service = service
    app.state.serving_state = state  # the poller, for tests and operators: ``polling`` says whether it runs
    problems.install(app)
    if fast_path:  # first added, so innermost: behind the body cap and counted by the metrics
        app.add_middleware(EventFastPath, service=service, clock=clock, routes=app.router.routes)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.serving.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost of the two: a 413 is counted too

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers. Says nothing about the database or models (that is /ready)."""
        return {"status": "ok"}

    @app.get("/ready", response_model=Readiness, responses=_problems(503), tags=["operations"])
    def ready() -> Any:
        """Readiness: the database answers and a champion model is loaded for at least one sport."""
        reason = state.check_database()
        if reason is not None:
            raise problems.not_ready(f"database unreachable ({reason})")
        snapshot = service.snapshot()
        sports = {
            sport: SportStatus(
                champion_version_id=p.champion.version.id,
                challenger_version_id=None if p.challenger is None else p.challenger.version.id,
                challenger_share=p.challenger_share,
                feature_build_id=p.features.build_id,
                scheduled_events=len(p.upcoming_records),
                swapped_at=state.health.swapped_at.get(sport),
            )
            for sport, p in snapshot.predictors.items()
        }
        return Readiness(sports=sports)

    @app.post("/predict", response_model=Prediction, responses=_problems(400, 404, 413, 422, 503), tags=["predictions"])
    async def predict(query: Annotated[PredictQuery, Body(openapi_examples=PREDICT_EXAMPLES)]) -> Any:
        """One scheduled event by id, or one fixture by teams, competition and a kickoff in the future. A soccer
        event's answer carries `markets` (the main lines; every line with `"markets": "all"`), a fixture's when asked
        (`"markets": "main"` or `"all"`); NFL answers the moneyline alone."""
        snapshot = service.snapshot()
        now = clock.now()
        if isinstance(query, EventQuery):
            return Response(service.event(snapshot, query.event_id, now, query.markets), media_type=JSON)
        result = (await run_in_threadpool(service.fixtures, snapshot, [(0, query)], now))[0]
        if isinstance(result, ProblemError):
            raise result
        return JSONResponse(result)

    @app.post(
        "/predict/batch", response_model=BatchResponse, responses=_problems(400, 413, 422, 503), tags=["predictions"]
    )
    def predict_batch(request: BatchRequest, raw: Request) -> Any:
        """Many queries at once (up to 20,000); one bad query gets its own problem and does not fail the rest."""
        snapshot = service.snapshot()
        now = clock.now()
        results: dict[int, bytes | dict[str, Any] | ProblemError] = {}
        fixtures: list[tuple[int, FixtureQuery]] = []
        for index, query in enumerate(request.queries):
            if isinstance(query, EventQuery):
                try:
                    results[index] = service.event(snapshot, query.event_id, now, query.markets)
                except ProblemError as error:
                    results[index] = error
            else:
                fixtures.append((index, query))
        if fixtures:
            results.update(service.fixtures(snapshot, fixtures, now))
        items: list[bytes | dict[str, Any]] = []  # an encoded prediction or a problem, in request order
        for index in range(len(request.queries)):
            result = results[index]
            if isinstance(result, ProblemError):
                items.append(result.body(raw.url.path))
            else:
                items.append(result if isinstance(result, bytes) else encode(result))
        failed = sum(1 for item in items if not isinstance(item, bytes))
        return Response(batch_body(items, len(items) - failed, failed), media_type=JSON)

    @app.get("/models", response_model=ModelsResponse, responses=_problems(503), tags=["models"])
    def models() -> Any:
        """Every registered version with its aliases, and which of them this process is serving."""
        try:
            versions = list_versions(engine)
        except Exception as error:
            raise problems.not_ready(f"database unreachable ({type(error).__name__})") from error
        serving: dict[int, str] = {}
        snapshot = state.snapshot
        for predictor in snapshot.predictors.values() if snapshot else ():
            serving[predictor.champion.version.id] = CHAMPION_ARM
            if predictor.challenger is not None:
                serving[predictor.challenger.version.id] = CHALLENGER_ARM
        return ModelsResponse(
            models=[
                ModelInfo(
                    id=v.id,
                    sport=v.sport,
                    market=v.market,
                    model_type=v.model_type,
                    version=v.version,
                    artifact_sha256=v.artifact_sha256,
                    aliases=list(v.aliases),
                    created_at=v.created_at,
                    metrics=dict(v.metrics),
                    serving=serving.get(v.id),  # type: ignore[arg-type]
                )
                for v in versions
            ]
        )

    from betpipe.serving.betting import install_betting_routes  # /opportunities, /bets (issue 10)

    install_betting_routes(
        app, engine=engine, settings=settings, clock=clock, state=state, metrics=metrics, problem_responses=_problems
    )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses=_problems(401, 403),
        dependencies=[Depends(read_guard(settings))],
    )
    def prometheus() -> Response:
        """Prometheus text format: requests, latency, predictions per model version, swaps, and the ledger's bets and
        exposure per account (hence the read token: a scraper sends it as its bearer token)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    from betpipe.serving import betting, schemas

    keep_null_examples(app, [schemas, betting])
    return app


__all__ = ["PredictionService", "create_app", "service_engine"]
