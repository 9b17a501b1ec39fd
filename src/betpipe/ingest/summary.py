"""Read-only summaries of what the store holds, for ``betpipe data summary`` and the dashboard later."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, case, func, select

from betpipe.db.schema import competitions, events, odds_snapshots, quarantine, seasons


@dataclass(frozen=True)
class SeasonSummary:
    source: str
    competition: str
    season: str
    events: int
    finished: int
    odds: int


@dataclass(frozen=True)
class QuarantineSummary:
    source: str
    reason: str
    rows: int


def season_summaries(engine: Engine) -> list[SeasonSummary]:
    odds_per_event = (
        select(odds_snapshots.c.event_id, func.count().label("n")).group_by(odds_snapshots.c.event_id).subquery()
    )
    query = (
        select(
            events.c.source,
            competitions.c.code,
            func.coalesce(seasons.c.name, "-"),
            func.count(),
            func.sum(case((events.c.status == "finished", 1), else_=0)),
            func.coalesce(func.sum(odds_per_event.c.n), 0),
        )
        .select_from(
            events.join(competitions, events.c.competition_id == competitions.c.id)
            .outerjoin(seasons, events.c.season_id == seasons.c.id)
            .outerjoin(odds_per_event, odds_per_event.c.event_id == events.c.id)
        )
        .group_by(events.c.source, competitions.c.code, seasons.c.name)
        .order_by(events.c.source, competitions.c.code, seasons.c.name)
    )
    with engine.connect() as conn:
        return [
            SeasonSummary(row[0], row[1], row[2], int(row[3]), int(row[4] or 0), int(row[5]))
            for row in conn.execute(query)
        ]


def quarantine_summaries(engine: Engine, *, reason_width: int = 60) -> list[QuarantineSummary]:
    """Quarantined rows by source and reason (reasons cut to their first words so similar ones group)."""
    query = select(quarantine.c.source, quarantine.c.reason)
    counts: dict[tuple[str, str], int] = {}
    with engine.connect() as conn:
        for source, reason in conn.execute(query):
            key = (source, _reason_kind(reason, reason_width))
            counts[key] = counts.get(key, 0) + 1
    return [QuarantineSummary(s, r, n) for (s, r), n in sorted(counts.items())]


def _reason_kind(reason: str, width: int) -> str:
    head = reason.split(":", maxsplit=1)[0]
    return head if len(head) <= width else head[: width - 1] + "…"
