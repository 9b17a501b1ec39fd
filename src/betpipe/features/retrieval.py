"""The two public reads of the feature store: a training matrix over a date range, one event as known at an instant.

Both go through the same as-of index (``asof``), so a training row equals the live lookup of that event at its
kickoff. Single-event market features are computed from the event's own odds in the database at call time, so
prices ingested after the last build are seen; everything else comes from the newest build. Never returns a value
that became known at or after the as-of instant, or after kickoff.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.features.asof import definition_of, training_frame
from betpipe.features.definitions import FeatureDefinition, Market, Schedule, default_feature_set, has_draws
from betpipe.features.market import single_event_market
from betpipe.features.schedule import schedule_values
from betpipe.features.source import QUOTE_GROUP, QUOTE_SELECT
from betpipe.features.store import current_index

_EPOCH_1900 = datetime(1900, 1, 1, tzinfo=UTC)


def training_matrix(
    engine: Engine,
    *,
    sport: str,
    competitions: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings,
    clock: Clock = SYSTEM_CLOCK,
) -> pl.DataFrame:
    """One row per event of ``sport`` (competition codes, start <= kickoff < end), features as known at kickoff.

    Sorted by (kickoff_utc, event_id). Rebuilds the store first if it is missing or the source tables changed
    (``clock`` stamps that build).
    """
    index, _ = current_index(engine, sport, settings, check_source=True, clock=clock)
    events = index.tables.events
    if competitions is not None:
        events = events.filter(pl.col("competition").is_in(list(competitions)))
    if start is not None:
        events = events.filter(pl.col("kickoff_utc") >= as_utc(start))
    if end is not None:
        events = events.filter(pl.col("kickoff_utc") < as_utc(end))
    return training_frame(index, events)


@dataclass(frozen=True)
class EventFeatures:
    event_id: int
    sport: str
    competition: str
    kickoff_utc: datetime
    as_of: datetime  # the instant the values are as known at: min(requested instant, kickoff)
    values: dict[str, float | None]
    versions: dict[str, str]  # feature -> version of the definition that produced it
    known_at: dict[str, datetime | None]  # feature -> when the newest input it uses became known
    feature_set_version: str
    build_id: int
    built_at: datetime


_EVENT_SQL = (
    "SELECT e.id, e.sport, c.code, s.name, e.kickoff_utc, e.home_team_id, e.away_team_id, e.neutral_site "
    "FROM events e JOIN competitions c ON c.id = e.competition_id LEFT JOIN seasons s ON s.id = e.season_id "
    "WHERE e.id = {p}"
)
_ODDS_SQL = QUOTE_SELECT + "WHERE o.event_id = {p} AND o.market = {m}" + QUOTE_GROUP


def _ms(instant: datetime) -> int:
    return (as_utc(instant) - _EPOCH_1900) // _MILLI


_MILLI = datetime(1900, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH_1900


def _from_ms(ms: int) -> datetime | None:
    return None if ms < 0 else _EPOCH_1900 + ms * _MILLI


def event_features(
    engine: Engine,
    event_id: int,
    *,
    as_of: datetime | None = None,
    settings: Settings,
    clock: Clock = SYSTEM_CLOCK,
) -> EventFeatures:
    """The feature vector of one event as known at ``as_of`` (default ``clock.now()``), never later than its kickoff.

    Live callers pass the system clock, a backtest its simulated one: no wall-clock read hides in here."""
    event, odds_rows = _read_event(engine, event_id)
    sport = str(event[1])
    index, entry = current_index(engine, sport, settings, check_source=False, clock=clock)
    tables = index.tables
    kickoff = _parse_instant(event[4])
    effective = min(as_utc(as_of) if as_of else as_utc(clock.now()), kickoff)
    as_of_ms = np.array([_ms(effective)], dtype=np.int64)
    kickoff_ms = np.array([_ms(kickoff)], dtype=np.int64)
    home, away = (_team_index(tables.teams, int(team_id)) for team_id in (event[5], event[6]))
    match = _SEASON.match(str(event[3] or ""))
    season = np.array([int(match.group(1)) if match else kickoff.year], dtype=np.int64)
    elo, elo_known = index.elo_columns(home, away, as_of_ms, season, np.array([bool(event[7])]))
    values: dict[str, float | None] = {name: _value(column[0]) for name, column in elo.items()}
    stamps = {side: _from_ms(int(elo_known[side][0])) for side in ("home", "away")}
    both = _from_ms(max(int(elo_known["home"][0]), int(elo_known["away"][0])))
    known_at = {name: stamps.get(name[6:], both) for name in elo}  # f_elo_home / f_elo_away: that side's
    rows = index.form_rows(home, away, as_of_ms)
    form = index.form_values(rows)
    values.update(form)
    form_known = {side: _from_ms(_row_known(index.team_known, rows["team", side])) for side in ("home", "away")}
    for side in ("home", "away"):  # form_values' order: each side's team then venue columns
        for kind in ("team", "venue"):
            known_at.update(dict.fromkeys(index.form_names[kind, side], form_known[side]))
    schedule_def = next(d for d in tables.definitions if isinstance(d, Schedule))
    fixtures, fixture_ms = index.fixtures
    schedule, schedule_known = schedule_values(
        fixtures, fixture_ms, np.maximum(home, 0), np.maximum(away, 0), kickoff_ms, schedule_def
    )
    visible = bool(schedule_known[0] < as_of_ms[0]) and home[0] >= 0 and away[0] >= 0
    for name in index.schedule_names:
        values[name] = _value(schedule[name][0]) if visible else None
        known_at[name] = _from_ms(int(schedule_known[0])) if visible else None
    market_def = next(d for d in tables.definitions if isinstance(d, Market))
    market_values, market_known = single_event_market(odds_rows, effective, kickoff, market_def, has_draws(sport))
    values.update(market_values)
    known_at.update(dict.fromkeys(market_values, market_known))
    return EventFeatures(
        event_id=int(event[0]),
        sport=sport,
        competition=str(event[2]),
        kickoff_utc=kickoff,
        as_of=effective,
        values=values,
        versions=_versions(tables.definitions, tuple(values)),
        known_at=known_at,
        feature_set_version=tables.version,
        build_id=entry.build_id,
        built_at=entry.built_at,
    )


_SEASON = re.compile(r"^(\d{4})")


@cache
def _versions(definitions: tuple[FeatureDefinition, ...], names: tuple[str, ...]) -> dict[str, str]:
    by_name = {d.name: d.version for d in definitions}
    return {name: by_name[definition_of(name)] for name in names}


def _read_event(engine: Engine, event_id: int) -> tuple[Any, list[Any]]:
    """The event row and its odds rows, in one connection with two indexed queries, on the DB-API cursor: the
    lookup is a few hundred microseconds, and SQLAlchemy's per-result processing was a fifth of it."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_EVENT_SQL.format(p="?" if sqlite else "%(e)s"), (event_id,) if sqlite else {"e": event_id})
            event = cursor.fetchone()
            if event is None:
                raise LookupError(f"no event with id {event_id}")
            market = _market_of(str(event[1]))
            sql = _ODDS_SQL.format(p="?" if sqlite else "%(e)s", m="?" if sqlite else "%(m)s")
            cursor.execute(sql, (event_id, market) if sqlite else {"e": event_id, "m": market})
            odds = cursor.fetchall()
        finally:
            cursor.close()
    rows = [(r[1], bool(r[2]), r[3], r[4], _parse_instant(r[5]), r[6], r[7], r[8]) for r in odds]
    return event, rows


@cache
def _market_of(sport: str) -> str:
    return next(d for d in default_feature_set(sport) if isinstance(d, Market)).market


def _team_index(teams: NDArray[np.int64], team_id: int) -> NDArray[np.int64]:
    position = int(np.searchsorted(teams, team_id))
    found = position < teams.size and int(teams[position]) == team_id
    return np.array([position if found else -1], dtype=np.int64)


def _row_known(known: NDArray[np.int64], row: NDArray[np.int64]) -> int:
    return int(known[int(row[0])]) if int(row[0]) >= 0 else -1


def _value(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if np.isnan(number) else number


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value)))
