"""The normalised record contract every source produces: three polars frames linked by ``row_ref``.

Readers are pure (bytes in, ``NormalisedBatch`` out) and never touch the database; ``ingest.store`` writes a batch.
Every input row ends up either in the frames or in ``quarantined`` with a reason: never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")

EVENT_SCHEMA: dict[str, Any] = {
    "row_ref": pl.Utf8,
    "sport": pl.Utf8,
    "competition_code": pl.Utf8,
    "competition_name": pl.Utf8,
    "season": pl.Utf8,
    "kickoff_utc": UTC_DATETIME,
    "kickoff_time_known": pl.Boolean,
    "home_team": pl.Utf8,
    "away_team": pl.Utf8,
    "status": pl.Utf8,
    "neutral_site": pl.Boolean,
    "attributes": pl.Utf8,  # JSON text or null
    "external_id": pl.Utf8,  # the source's own id, when it has one
}

RESULT_STAT_COLUMNS = (
    "ht_home_score",
    "ht_away_score",
    "home_shots",
    "away_shots",
    "home_shots_on_target",
    "away_shots_on_target",
    "home_corners",
    "away_corners",
    "home_fouls",
    "away_fouls",
    "home_yellow",
    "away_yellow",
    "home_red",
    "away_red",
)
RESULT_SCHEMA: dict[str, Any] = {
    "row_ref": pl.Utf8,
    "home_score": pl.Int64,
    "away_score": pl.Int64,
    **dict.fromkeys(RESULT_STAT_COLUMNS, pl.Int64),
    "overtime": pl.Boolean,
}

ODDS_SCHEMA: dict[str, Any] = {
    "row_ref": pl.Utf8,
    "bookmaker": pl.Utf8,
    "market": pl.Utf8,
    "selection": pl.Utf8,
    "line": pl.Float64,
    "price": pl.Float64,
    "kind": pl.Utf8,
    "captured_at": UTC_DATETIME,
}

EVENT_STATUSES = frozenset({"scheduled", "finished", "postponed", "cancelled", "in_play"})
MARKETS = frozenset({"1x2", "moneyline", "spread", "total", "asian_handicap"})
ODDS_KINDS = frozenset({"opening", "closing", "live", "in_play"})


@dataclass(frozen=True)
class QuarantinedRow:
    row_ref: str
    record: str
    reason: str

    @classmethod
    def of(cls, row_ref: str, record: Any, reason: str) -> QuarantinedRow:
        text = record if isinstance(record, str) else json.dumps(record, default=str, sort_keys=True)
        return cls(row_ref=row_ref, record=text, reason=reason)


@dataclass
class NormalisedBatch:
    """What one source read produced; ``rows_read`` counts input rows (matches, games, API events)."""

    source: str
    locator: str
    rows_read: int
    events: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EVENT_SCHEMA))
    results: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RESULT_SCHEMA))
    odds: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ODDS_SCHEMA))
    quarantined: list[QuarantinedRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.events = conform(self.events, EVENT_SCHEMA)
        self.results = conform(self.results, RESULT_SCHEMA)
        self.odds = conform(self.odds, ODDS_SCHEMA)


def conform(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema``; missing optional columns become nulls. Fails loudly on junk."""
    expressions = []
    for name, dtype in schema.items():
        if name in frame.columns:
            expressions.append(pl.col(name).cast(dtype, strict=True).alias(name))
        else:
            expressions.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(expressions)
