"""The service's request and response bodies (Pydantic): the OpenAPI document is generated from these.

Requests refuse unknown fields, so a typo is a 422 rather than a silently ignored option. Must never carry a secret
in a response body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag

MAX_BATCH = 20_000
EventId = Annotated[int, Field(ge=1, le=2**63 - 1, description="An event id from the store.")]
TeamName = Annotated[str, Field(min_length=1, max_length=200, description="A team name or alias (any case).")]


class EventQuery(BaseModel):
    """Predict a scheduled event of the store."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"event_id": 160}]})
    event_id: EventId


class FixtureQuery(BaseModel):
    """Predict a fixture by its teams, competition and a kickoff in the future (it need not be in the store)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"home_team": "Arsenal", "away_team": "Chelsea", "competition": "E0", "kickoff": "2030-08-17T14:00:00Z"}
            ]
        },
    )
    home_team: TeamName
    away_team: TeamName
    competition: Annotated[str, Field(min_length=1, max_length=64, description="Competition code, e.g. E0.")]
    kickoff: AwareDatetime
    neutral_site: bool = False


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
    model_config = ConfigDict(extra="forbid")
    queries: Annotated[list[PredictQuery], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    event_id: int | None = Field(description="Null for a fixture that is not an event of the store.")
    sport: str
    market: str
    competition: str
    home_team: str
    away_team: str
    kickoff: datetime
    probabilities: dict[str, float] = Field(description="Outcome (home, draw, away / home, away) -> probability.")
    model_version_id: int
    model_version: int
    model_type: str
    arm: Literal["champion", "challenger"]
    feature_build_id: int


class Problem(BaseModel):
    """RFC 7807 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class BatchItem(BaseModel):
    """Exactly one of ``prediction`` and ``problem``: one bad query does not fail the batch."""

    index: int
    prediction: Prediction | None = None
    problem: Problem | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]
    predicted: int
    failed: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class SportStatus(BaseModel):
    champion_version_id: int
    challenger_version_id: int | None
    challenger_share: float
    feature_build_id: int
    scheduled_events: int
    swapped_at: datetime | None


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    database: Literal["ok"] = "ok"
    sports: dict[str, SportStatus]


class ModelInfo(BaseModel):
    id: int
    sport: str
    market: str
    model_type: str
    version: int
    artifact_sha256: str
    aliases: list[str]
    created_at: datetime
    metrics: dict[str, object]
    serving: Literal["champion", "challenger"] | None = Field(description="The arm this process serves it on, if any.")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
