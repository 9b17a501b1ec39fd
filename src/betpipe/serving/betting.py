"""The service's money routes: ``GET /opportunities`` (priced, sized, risk-checked candidates), ``GET /bets`` (read
token) and ``POST /bets`` (write token; ``auth``), plus ledger gauges (bets by state, open exposure) on ``/metrics``.

Every decision goes through ``pipeline_betting`` (the live run's ``betting.strategy.decide``) and every bet through
``place_bets``: the service decides nothing of its own. Must never load a model on a request (the loaded snapshot's
champion prices opportunities), never place a bet without a valid token, and never echo the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, select

from betpipe.betting import list_bets
from betpipe.betting.books import PaperBook
from betpipe.betting.ledger import place_bets
from betpipe.betting.risk import RiskLimits
from betpipe.betting.strategy import quotes_of
from betpipe.clock import Clock
from betpipe.config import Settings
from betpipe.db.schema_betting import bets
from betpipe.pipeline_betting import Opportunities, dry_run_checks, opportunities
from betpipe.serving import problems
from betpipe.serving.auth import Guard, read_guard, write_guard
from betpipe.serving.metrics import ServiceMetrics
from betpipe.serving.problems import ProblemError
from betpipe.serving.state import ServingState

__all__ = ["install_betting_routes"]


class Opportunity(BaseModel):
    event_id: int
    competition: str
    kickoff: datetime
    market: str
    selection: str
    price: Decimal
    probability: float
    edge: float | None
    stake: Decimal
    book: str
    strategy: str
    model_version_id: int | None
    decided_at: datetime = Field(description="When the price was captured: the bet's decision instant.")
    rejection: str | None = Field(description="Why the ledger would refuse it now (a dry-run risk check), or null.")


class OpportunitiesResponse(BaseModel):
    as_of: datetime
    strategy: str
    opportunities: list[Opportunity]
    no_bet: dict[str, int] = Field(description="Selections left unbet, by reason.")
    notes: list[str]
    reason: str | None = Field(
        description="With no opportunity, why: no scheduled events, no prices, no champion, stale prices, or no edge."
    )
    can_bet: bool = Field(description="False when nothing could be priced at all (a state to fix), not 'no edge'.")


class Bet(BaseModel):
    id: int
    account: str
    event_id: int
    competition: str
    kickoff: datetime
    market: str
    selection: str
    line: float
    price: Decimal
    stake: Decimal
    probability: float
    edge: float | None
    book: str
    strategy: str
    model_version_id: int | None
    decision_time: datetime
    state: str
    reason: str | None
    pnl: Decimal | None
    clv: float | None
    settled_at: datetime | None


class BetsResponse(BaseModel):
    bets: list[Bet]


class PlaceRequest(BaseModel):
    """Place the strategy's current opportunities (all, or those of ``event_ids``) through the ledger."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"event_ids": [2251]}]})
    event_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(default=None, max_length=10_000)


class Placement(BaseModel):
    bet_id: int
    event_id: int
    selection: str
    state: str
    reason: str | None
    price: Decimal | None
    stake: Decimal
    duplicate: bool


class PlaceResponse(BaseModel):
    placed: int
    placements: list[Placement]


def _place_request_parser(guard: Guard) -> Callable[..., Any]:
    """POST /bets's body, parsed only once ``guard`` has accepted the token: the route declares no body parameter,
    so FastAPI reads nothing before its dependencies run, and a caller without the token never gets a body error."""

    async def place_request(raw: Request, _: None = Depends(guard)) -> PlaceRequest:  # a default: guard is local
        body = await raw.body()  # at most serving.max_body_bytes (limits.BodyLimitMiddleware)
        if not body:
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
        try:
            return PlaceRequest.model_validate_json(body)
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False, include_context=False)) from None

    return place_request


_PLACE_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PlaceRequest.model_json_schema(ref_template="#/$defs/{model}")}},
    }
}


class LedgerCollector(Collector):
    """Bets by account and state and open exposure, read from the ledger at scrape time (cached a few seconds)."""

    def __init__(self, engine: Engine, ttl: float = 5.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[tuple[str, str, int, int]]] | None = None

    def _rows(self) -> list[tuple[str, str, int, int]]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
                return self._cached[1]
            query = select(bets.c.account, bets.c.state, func.count(), func.coalesce(func.sum(bets.c.stake_cents), 0))
            with self._engine.connect() as conn:
                rows = [
                    (str(a), str(s), int(n), int(c)) for a, s, n, c in conn.execute(query.group_by("account", "state"))
                ]
            self._cached = (time.monotonic(), rows)
            return rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = self._rows()
        except Exception:  # the database is away: the other metrics still scrape
            return
        count = GaugeMetricFamily(
            "betpipe_bets", "Bets in the ledger by account and state.", labels=["account", "state"]
        )
        exposure = GaugeMetricFamily("betpipe_open_exposure", "Stakes of placed, unsettled bets.", labels=["account"])
        open_by_account: dict[str, float] = {}
        for account, state, n, stake_cents in rows:
            count.add_metric([account, state], n)
            if state == "placed":
                open_by_account[account] = stake_cents / 100
        for account, value in open_by_account.items():
            exposure.add_metric([account], value)
        yield count
        yield exposure


def _opportunity_items(found: Opportunities, checks: list[str | None]) -> list[Opportunity]:
    return [
        Opportunity(
            event_id=c.event_id, competition=c.competition, kickoff=c.kickoff, market=c.market, selection=c.selection,
            price=c.price, probability=c.probability, edge=c.edge, stake=c.stake, book=c.book, strategy=c.strategy,
            model_version_id=c.model_version, decided_at=c.decision_time, rejection=check,
        )
        for c, check in zip(found.decision.candidates, checks, strict=True)
    ]  # fmt: skip


def install_betting_routes(
    app: FastAPI,
    *,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    state: ServingState,
    metrics: ServiceMetrics,
    problem_responses: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    """Mount /opportunities and /bets on ``app`` and the ledger gauges on its metrics registry."""
    metrics.registry.register(LedgerCollector(engine))
    account = settings.pipeline.account
    sport = settings.pipeline.sport
    limits = RiskLimits.from_settings(settings)
    readers = [Depends(read_guard(settings))]
    parse_place_request = _place_request_parser(write_guard(settings))

    def current(competition: str | None) -> Opportunities:
        snapshot = state.snapshot
        predictor = None if snapshot is None else snapshot.predictors.get(sport)
        if predictor is None and settings.pipeline.strategy != "market":
            raise problems.not_ready(f"no {sport} champion loaded yet: opportunities need its probabilities")
        try:
            return opportunities(engine, settings, clock, competition=competition, predictor=predictor)
        except ProblemError:
            raise
        except Exception as error:
            raise problems.not_ready(f"database unreachable ({type(error).__name__})") from error

    @app.get(
        "/opportunities",
        response_model=OpportunitiesResponse,
        responses=problem_responses(401, 403, 422, 503),
        tags=["betting"],
        dependencies=readers,
    )
    def get_opportunities(
        competition: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> OpportunitiesResponse:
        """What the live strategy would bet now on upcoming events, each with the ledger's dry-run verdict."""
        found = current(competition)
        checks = dry_run_checks(engine, found.decision.candidates, account=account, limits=limits, clock=clock)
        return OpportunitiesResponse(
            as_of=found.now,
            strategy=found.strategy.name,
            opportunities=_opportunity_items(found, checks),
            no_bet=found.decision.no_bet,
            notes=found.notes,
            reason=found.reason or None,
            can_bet=found.can_bet,
        )

    @app.get(
        "/bets",
        response_model=BetsResponse,
        responses=problem_responses(401, 403, 422, 503),
        tags=["betting"],
        dependencies=readers,
    )
    def get_bets(
        state_: Annotated[
            str | None,
            Query(alias="state", pattern="^(open|settled|proposed|rejected|placed|won|lost|void|half_won|half_lost)$"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> BetsResponse:
        """The live account's bets, newest first (``state=open`` for placed and unsettled)."""
        try:
            records = list_bets(engine, account=account, state=state_, limit=limit)
        except Exception as error:
            raise problems.not_ready(f"database unreachable ({type(error).__name__})") from error
        return BetsResponse(
            bets=[
                Bet(
                    id=r.id, account=r.account, event_id=r.event_id, competition=r.competition, kickoff=r.kickoff,
                    market=r.market, selection=r.selection, line=r.line, price=r.price, stake=r.stake,
                    probability=r.probability, edge=r.edge, book=r.book, strategy=r.strategy,
                    model_version_id=r.model_version, decision_time=r.decision_time, state=r.state, reason=r.reason,
                    pnl=r.pnl, clv=r.clv, settled_at=r.settled_at,
                )
                for r in records
            ]
        )  # fmt: skip

    @app.post(
        "/bets",
        response_model=PlaceResponse,
        responses=problem_responses(400, 401, 403, 413, 422, 503),
        tags=["betting"],
        openapi_extra=_PLACE_REQUEST_BODY,
    )
    def post_bets(request: PlaceRequest = Depends(parse_place_request)) -> PlaceResponse:
        """Place the strategy's current opportunities through the ledger (idempotent: a repeat places nothing)."""
        found = current(None)
        wanted = None if request.event_ids is None else set(request.event_ids)
        candidates = [c for c in found.decision.candidates if wanted is None or c.event_id in wanted]
        if not candidates:
            return PlaceResponse(placed=0, placements=[])
        book = PaperBook(name=found.strategy.book, prices=quotes_of(candidates))
        try:
            results = place_bets(engine, candidates, account=account, book=book, clock=clock, limits=limits)
        except Exception as error:
            raise problems.not_ready(f"the ledger is unreachable ({type(error).__name__})") from error
        placements = [
            Placement(
                bet_id=r.bet_id, event_id=c.event_id, selection=c.selection, state=r.state, reason=r.reason,
                price=r.price, stake=r.stake, duplicate=r.duplicate,
            )
            for c, r in zip(candidates, results, strict=True)
        ]  # fmt: skip
        return PlaceResponse(placed=sum(1 for r in results if r.placed and not r.duplicate), placements=placements)
