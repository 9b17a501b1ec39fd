"""The service's request and response bodies (Pydantic): the OpenAPI document is generated from these.

Every field says its unit, once, through the shared types below: money is a decimal string in the account currency
(``bankroll.currency``), prices are decimal odds, probabilities are fractions in [0, 1], instants are UTC ISO-8601.
Requests refuse unknown fields, so a typo is a 422 rather than a silently ignored option. The examples name events
and teams of the sample league store that ``make demo`` builds (``DEMO_*``; ``tests/test_serving_docs_examples.py``
sends every documented example to such a store). Must never carry a secret in a response body.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag

from betpipe.serving.market_schemas import MARKETS_EXAMPLE, Markets

MAX_BATCH = 20_000

# The sample league after `make demo`: the next matchday's first 14:30 kickoff and two of its teams. Served with
# `betpipe serve --as-of 2025-03-22T10:30:00` (the eve the demo's scheduler cycle uses).
DEMO_AS_OF = "2025-03-22T10:30:00Z"
DEMO_EVENT_ID = 2261
DEMO_BET_EVENT_ID = 2263
DEMO_HOME, DEMO_AWAY, DEMO_COMPETITION = "Oakhurst Athletic", "Ashbury Rovers", "SAMPLE"
DEMO_FIXTURE_KICKOFF = "2030-08-17T14:00:00Z"  # far ahead: in the future for the demo clock and the real one

FIXTURE_EXAMPLE: dict[str, Any] = {
    "home_team": DEMO_HOME,
    "away_team": DEMO_AWAY,
    "competition": DEMO_COMPETITION,
    "kickoff": DEMO_FIXTURE_KICKOFF,
}

# GET /opportunities and GET /bets on the demo store (serving.betting's models use these).
STRATEGY_EXAMPLE = "live:blend:champion@0.5|sample_soft|kelly:0.25|t=0.02"
OPPORTUNITY_EXAMPLE: dict[str, Any] = {
    "event_id": DEMO_BET_EVENT_ID, "competition": "SAMPLE", "kickoff": "2025-03-22T11:30:00Z", "market": "1x2",
    "selection": "home", "price": "2.07", "probability": 0.5628, "edge": 0.1650, "stake": "19.22",
    "book": "sample_soft", "strategy": STRATEGY_EXAMPLE, "model_version_id": 1, "decided_at": "2025-03-20T07:29:00Z",
    "rejection": None,
}  # fmt: skip
BET_EXAMPLE: dict[str, Any] = {
    "id": 7, "account": "paper", "event_id": 2253, "competition": "SAMPLE", "kickoff": "2025-03-16T13:00:00Z",
    "market": "1x2", "selection": "home", "line": 0.0, "price": "3.1900", "stake": "12.58", "probability": 0.3635,
    "edge": 0.1595, "book": "sample_soft", "strategy": STRATEGY_EXAMPLE, "model_version_id": 1,
    "decision_time": "2025-03-13T23:26:00Z", "state": "won", "reason": None, "pnl": "27.55", "clv": -0.1058,
    "settled_at": "2025-03-19T10:30:00Z",
}  # fmt: skip

EventId = Annotated[
    int, Field(ge=1, le=2**63 - 1, description="An event id of the store (`betpipe predict --upcoming`).")
]
TeamName = Annotated[str, Field(min_length=1, max_length=200, description="A team name or alias (any case).")]
Money = Annotated[
    Decimal,
    Field(description="Money in the account currency (`bankroll.currency`, EUR by default), as a decimal string."),
]
Price = Annotated[Decimal, Field(description="Decimal odds (European): the return per 1 unit staked, stake included.")]
Probability = Annotated[float, Field(description="A probability, a fraction in [0, 1].")]
Instant = Annotated[datetime, Field(description="An instant, UTC, ISO-8601.")]
Competition = Annotated[str, Field(description="Competition code, e.g. SAMPLE or E0 (football-data.co.uk's codes).")]
Sport = Annotated[str, Field(description="`soccer` or `nfl`.")]
Market = Annotated[str, Field(description="`1x2` (soccer: home, draw, away) or `moneyline` (NFL: home, away).")]
Selection = Annotated[str, Field(description="The outcome bet on: `home`, `draw` or `away`.")]
Edge = Annotated[
    float | None,
    Field(description="Expected profit per unit staked at this price, a fraction: probability x price - 1."),
]
ModelVersionId = Annotated[int, Field(description="The registry id of a model version (`betpipe models list`).")]


_DEPTHS = (
    "`main`: 1X2, O/U 2.5, the AH line nearest even and BTTS; `all`: also O/U 0.5..5.5 and AH -3..+3 in quarter "
    "steps, double chance, draw-no-bet and correct score; `none`: no `markets` (null). NFL answers carry no "
    "`markets` (moneyline only) whatever this says."
)
EventMarkets = Annotated[
    Literal["none", "main", "all"],
    Field(description=f"Soccer markets in the answer, priced when the event was loaded (free): {_DEPTHS}"),
]
FixtureMarkets = Annotated[
    Literal["none", "main", "all"],
    Field(
        description="Soccer markets in the answer, `none` by default for a fixture: its grid is fitted on the "
        f"request (about 1-2 ms of CPU per fixture, 10x a fixture's prediction in a large batch). {_DEPTHS}"
    ),
]


class EventQuery(BaseModel):
    """Predict a scheduled event of the store."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"event_id": DEMO_EVENT_ID}]})
    event_id: EventId
    markets: EventMarkets = "main"


class FixtureQuery(BaseModel):
    """Predict a fixture by its teams, competition and a kickoff in the future (it need not be in the store)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [FIXTURE_EXAMPLE]})
    home_team: TeamName
    away_team: TeamName
    competition: Annotated[str, Field(min_length=1, max_length=64, description="Competition code, e.g. SAMPLE or E0.")]
    kickoff: AwareDatetime = Field(description="Kickoff, ISO-8601 with a UTC offset (`Z` or `+01:00`), in the future.")
    neutral_site: bool = Field(default=False, description="True when neither team plays at home.")
    markets: FixtureMarkets = "none"


def _query_kind(value: Any) -> str:
    """Which of the two shapes a query is: by ``event_id`` alone, so an error names the fields of that shape only."""
    if isinstance(value, dict):
        return "event" if "event_id" in value else "fixture"
    return "event" if isinstance(value, EventQuery) else "fixture"


PredictQuery = Annotated[
    Annotated[EventQuery, Tag("event")] | Annotated[FixtureQuery, Tag("fixture")],
    Discriminator(_query_kind),
]


class BatchRequest(BaseModel):
    """Up to 20,000 queries of either shape."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"queries": [{"event_id": DEMO_EVENT_ID}, FIXTURE_EXAMPLE]}]}
    )
    queries: Annotated[
        list[PredictQuery],
        Field(min_length=1, max_length=MAX_BATCH, description="Each an `event_id` query or a fixture query."),
    ]


PREDICTION_EXAMPLE: dict[str, Any] = {
    "event_id": DEMO_EVENT_ID, "sport": "soccer", "market": "1x2", "competition": DEMO_COMPETITION,
    "home_team": DEMO_HOME, "away_team": "Pennybrook Town", "kickoff": "2025-03-22T14:30:00+00:00",
    "probabilities": {"home": 0.8353, "draw": 0.1077, "away": 0.0570}, "model_version_id": 1, "model_version": 1,
    "model_type": "dixon_coles", "arm": "champion", "feature_build_id": 2, "markets": MARKETS_EXAMPLE,
}  # fmt: skip


class Prediction(BaseModel):
    """The champion's (or on the A/B arm the challenger's) probabilities for one event or fixture."""

    model_config = ConfigDict(json_schema_extra={"examples": [PREDICTION_EXAMPLE]})
    event_id: int | None = Field(description="The event id; null for a fixture that is not an event of the store.")
    sport: Sport
    market: Market
    competition: Competition
    home_team: str = Field(description="The home team's name in the store (an alias is resolved to it).")
    away_team: str = Field(description="The away team's name in the store.")
    kickoff: Instant
    probabilities: dict[str, float] = Field(
        description="Outcome (`home`, `draw`, `away`; NFL `home`, `away`) -> probability in [0, 1]; they sum to 1."
    )
    model_version_id: ModelVersionId
    model_version: int = Field(description="The version number within its sport and model type.")
    model_type: str = Field(description="The model family, e.g. `elo_logit`, `dixon_coles`, `gbm`.")
    arm: Literal["champion", "challenger"] = Field(description="The A/B arm that answered.")
    feature_build_id: int = Field(description="The feature build the event's features came from.")
    markets: Markets | None = Field(
        description="Soccer: every market priced from one score grid fitted to `probabilities` (the query's "
        "`markets` says how many lines; null for `none`, a fixture's default). NFL: null, its prediction is the "
        "moneyline alone."
    )


class Problem(BaseModel):
    """RFC 7807 problem details (``application/problem+json``)."""

    type: str = Field(default="about:blank", description="A `urn:betpipe:problem:*` URN naming the kind of error.")
    title: str = Field(description="The kind of error in words.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="This occurrence in words: what to change.")
    instance: str | None = Field(default=None, description="The request path.")


class BatchItem(BaseModel):
    """Exactly one of ``prediction`` and ``problem``: one bad query does not fail the batch."""

    index: int = Field(description="The query's position in the request, from 0.")
    prediction: Prediction | None = Field(default=None, description="The prediction, or null when it failed.")
    problem: Problem | None = Field(default=None, description="Why this query failed, or null.")


class BatchResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"results": [{"index": 0, "prediction": PREDICTION_EXAMPLE, "problem": None}], "predicted": 1, "failed": 0}
    ]})  # fmt: skip
    results: list[BatchItem] = Field(description="One item per query, in request order.")
    predicted: int = Field(description="How many queries got a prediction.")
    failed: int = Field(description="How many queries got a problem instead.")


class Health(BaseModel):
    status: Literal["ok"] = Field(default="ok", description="Always `ok`: the process answers.")


class SportStatus(BaseModel):
    champion_version_id: ModelVersionId
    challenger_version_id: int | None = Field(description="The challenger's model version id, if one is served.")
    challenger_share: Probability = Field(description="Share of event requests answered by the challenger, in [0, 1].")
    feature_build_id: int = Field(description="The feature build loaded for this sport.")
    scheduled_events: int = Field(description="Scheduled events of the loaded build (predictable by `event_id`).")
    swapped_at: Instant | None = Field(description="When this sport's models were last loaded or swapped (UTC).")


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready", "database": "ok", "sports": {
        "soccer": {"champion_version_id": 1, "challenger_version_id": None, "challenger_share": 0.0,
                   "feature_build_id": 2, "scheduled_events": 30, "swapped_at": DEMO_AS_OF}}}]})  # fmt: skip
    status: Literal["ready"] = Field(default="ready", description="Always `ready` (otherwise the answer is a 503).")
    database: Literal["ok"] = Field(default="ok", description="Always `ok`: the database answered.")
    sports: dict[str, SportStatus] = Field(description="Sport -> what is loaded for it.")


class ModelInfo(BaseModel):
    id: ModelVersionId
    sport: Sport
    market: Market
    model_type: str = Field(description="The model family, e.g. `elo_logit`, `dixon_coles`, `gbm`.")
    version: int = Field(description="The version number within its sport and model type.")
    artifact_sha256: str = Field(description="SHA-256 of the stored artifact, hex (verified on every load).")
    aliases: list[str] = Field(description="`champion`, `challenger`, or none.")
    created_at: Instant
    metrics: dict[str, object] = Field(
        description="Holdout metrics at training: log_loss, brier, rps (lower is better) and holdout_rows."
    )
    serving: Literal["champion", "challenger"] | None = Field(description="The arm this process serves it on, if any.")


class ModelsResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"models": [{
        "id": 1, "sport": "soccer", "market": "1x2", "model_type": "dixon_coles", "version": 1,
        "artifact_sha256": "715e103297850334e695d2dabf02e8ed981bbbff28435bbfe9f8b56a904139c3", "aliases": ["champion"],
        "created_at": "2025-03-01T09:00:00Z", "metrics": {"log_loss": 1.0162, "brier": 0.6091, "rps": 0.2155,
        "holdout_rows": 350}, "serving": "champion"}]}]})  # fmt: skip
    models: list[ModelInfo] = Field(description="Every registered version, newest first.")
