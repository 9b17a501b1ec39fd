"""The service's money routes: ``GET /opportunities`` (priced, sized, risk-checked candidates), ``GET /bets`` (read
token) and ``POST /bets`` (write token; ``auth``), plus ledger gauges (bets by state, open exposure) on ``/metrics``.

Every decision goes through ``live.opportunities`` (the live run's ``betting.strategy.decide``) and every bet through
``place_bets``: the service decides nothing of its own. Must never load a model on a request (the loaded snapshot's
champion prices opportunities), never place a bet without a valid token, and never echo the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, func, select

from betpipe.betting import list_bets
from betpipe.betting.placing import paper_books, place_at_books
from betpipe.betting.risk import RiskLimits
from betpipe.clock import Clock
from betpipe.config import Settings
from betpipe.db.schema_betting import bets
from betpipe.live.opportunities import Opportunities, dry_run_checks, live_strategy_spec, opportunities
from betpipe.serving import problems
from betpipe.serving.auth import Guard, read_guard, write_guard
from betpipe.serving.metrics import ServiceMetrics
from betpipe.serving.problems import ProblemError
from betpipe.serving.schemas import (
    BET_EXAMPLE,
    DEMO_AS_OF,
    DEMO_BET_EVENT_ID,
    OPPORTUNITY_EXAMPLE,
    STRATEGY_EXAMPLE,
    Competition,
    Edge,
    Instant,
    Market,
    Money,
    Price,
    Probability,
    Selection,
)
from betpipe.serving.state import ServingState

__all__ = ["install_betting_routes"]


class Opportunity(BaseModel):
    """A bet the live strategy would place now: priced at the book, sized, and dry-run through the risk checks."""

    event_id: int = Field(description="The event id.")
    competition: Competition
    kickoff: Instant
    market: Market
    selection: Selection
    price: Price
    probability: Probability = Field(description="The strategy's probability of the selection, in [0, 1].")
    edge: Edge
    stake: Money = Field(description="The stake the strategy sizes, in the account currency, as a decimal string.")
    book: str = Field(description="The book whose price this is: the best among the live strategy's books.")
    strategy: str = Field(description="The strategy's name: probability source, book, sizing and its parameters.")
    model_version_id: int | None = Field(description="The model version behind the probability (null: market only).")
    decided_at: Instant = Field(description="When the price was captured: the bet's decision instant (UTC).")
    rejection: str | None = Field(description="Why the ledger would refuse it now (a dry-run risk check), or null.")


class OpportunitiesResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "as_of": DEMO_AS_OF, "strategy": STRATEGY_EXAMPLE, "opportunities": [OPPORTUNITY_EXAMPLE],
        "no_bet": {"sizing: no_edge": 17, "sizing: not_best_edge": 4}, "notes": [], "reason": None, "can_bet": True,
    }]})  # fmt: skip
    as_of: Instant = Field(description="The service's 'now' (UTC).")
    strategy: str = Field(description="The live strategy's name.")
    opportunities: list[Opportunity] = Field(description="What the strategy would bet now (with an edge and a stake).")
    no_bet: dict[str, int] = Field(description="Selections left unbet, by reason.")
    notes: list[str] = Field(description="What the run noticed (stale prices, skipped events), in words.")
    reason: str | None = Field(
        description="With no opportunity, why: no scheduled events, no prices, no champion, stale prices, or no edge."
    )
    can_bet: bool = Field(description="False when nothing could be priced at all (a state to fix), not 'no edge'.")


class Bet(BaseModel):
    """A bet of the ledger. Money in the account currency (`bankroll.currency`), as decimal strings."""

    id: int = Field(description="The bet id (`betpipe bets show ID`).")
    account: str = Field(description="The ledger account (`pipeline.account`).")
    event_id: int = Field(description="The event id.")
    competition: Competition
    kickoff: Instant
    market: Market
    selection: Selection
    line: float = Field(description="The handicap or total line; 0 for 1x2 and moneyline.")
    price: Price = Field(description="The decimal odds taken (the book's fill), 4 decimals.")
    stake: Money = Field(description="The stake, in the account currency, as a decimal string (2 decimals).")
    probability: Probability = Field(description="The strategy's probability of the selection at decision, in [0, 1].")
    edge: Edge
    book: str = Field(description="The book it was placed with.")
    strategy: str = Field(description="The strategy's name: probability source, book, sizing and its parameters.")
    model_version_id: int | None = Field(description="The model version behind the probability (null: market only).")
    decision_time: Instant = Field(description="When the price was captured: the decision instant (UTC).")
    state: str = Field(description="proposed, rejected, placed, won, lost, void, half_won or half_lost.")
    reason: str | None = Field(description="Why it was rejected (the risk rule and its figures), or null.")
    pnl: Money | None = Field(
        description="Profit or loss once settled, in the account currency, as a decimal string; null until then."
    )
    clv: float | None = Field(
        description="Closing-line value, a fraction: price x margin-free closing probability - 1 (0.05 = +5 %); "
        "null until settled or without a closing price."
    )
    settled_at: Instant | None = Field(description="When it was settled (UTC), or null.")


class BetsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"bets": [BET_EXAMPLE]}]})
    bets: list[Bet] = Field(description="Newest first.")


class PlaceRequest(BaseModel):
    """Place the strategy's current opportunities (all, or those of ``event_ids``) through the ledger."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"event_ids": [DEMO_BET_EVENT_ID]}]})
    event_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=10_000, description="Only these events' opportunities; omitted or null: all of them."
    )


class Placement(BaseModel):
    bet_id: int = Field(description="The ledger's bet id.")
    event_id: int = Field(description="The event id.")
    selection: Selection
    state: str = Field(description="`placed`, or `rejected` with its reason.")
    reason: str | None = Field(description="Why it was rejected (the risk rule and its figures), or null.")
    price: Price | None = Field(description="The decimal odds filled, or null when not placed.")
    stake: Money
    duplicate: bool = Field(description="True when the same bet was already in the ledger (nothing new placed).")


class PlaceResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"placed": 1, "placements": [{
        "bet_id": 10, "event_id": DEMO_BET_EVENT_ID, "selection": "home", "state": "placed", "reason": None,
        "price": "2.0700", "stake": "19.22", "duplicate": False}]}]})  # fmt: skip
    placed: int = Field(description="How many new bets were placed (duplicates and rejections excluded).")
    placements: list[Placement] = Field(description="One per candidate sent to the ledger, placed or not.")


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
        if predictor is None and live_strategy_spec(settings, engine).source != "market":
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
        try:  # each candidate at the book its price came from (line shopping)
            results = place_at_books(
                engine, candidates, account=account, clock=clock, limits=limits, book_for=paper_books()
            )
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
