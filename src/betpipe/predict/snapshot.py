"""Feature rows for prediction: every scheduled event of the newest build, and fixtures named by teams and kickoff.

Both go through the feature store's as-of code (``asof.training_frame``), so a served row is the row the model was
trained on for that event at its kickoff, and a hypothetical fixture gets exactly what a scheduled one between the
same teams at the same instant would. One snapshot per (sport, build) is read once and then only looked up.
Must never build features (``betpipe features build`` does), never query the database per lookup, and never read a
state known at or after kickoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine, select

from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema import team_aliases, teams
from betpipe.features.asof import AsOfIndex, training_frame
from betpipe.features.definitions import Schedule, default_feature_set
from betpipe.features.schedule import schedule_values
from betpipe.features.store import latest_build, read_tables

IntArray = NDArray[np.int64]
UPCOMING_STATUS = "scheduled"


class UnknownTeamError(LookupError):
    """A team name that neither the teams table nor the team aliases know for the sport."""


class UnknownCompetitionError(LookupError):
    """A competition code with no events in the sport's feature build."""


@dataclass(frozen=True)
class Fixtures:
    """Fixtures named by the caller (not in the database): parallel sequences, one entry per fixture."""

    home_team: list[str]
    away_team: list[str]
    competition: list[str]
    kickoff: list[datetime]
    neutral_site: list[bool]


@dataclass(frozen=True)
class FeatureSnapshot:
    """One sport's build, read once: the scheduled events' feature rows and what fixtures need to be resolved."""

    sport: str
    build_id: int
    built_at: datetime
    index: AsOfIndex
    upcoming: pl.DataFrame  # training_frame rows of scheduled events, sorted by kickoff
    row_of_event: dict[int, int]
    team_ids: dict[str, int]  # lower-cased name or alias -> team id
    team_names: dict[int, str]
    competitions: frozenset[str]
    _seasons: dict[str, tuple[IntArray, IntArray, list[str]]] = field(repr=False)

    @property
    def upcoming_kickoff_ms(self) -> IntArray:
        return np.asarray(self.upcoming["kickoff_utc"].dt.epoch("ms").to_numpy(), dtype=np.int64)

    def team_id(self, name: str) -> int:
        found = self.team_ids.get(name.strip().casefold())
        if found is None:
            raise UnknownTeamError(f"unknown {self.sport} team {name!r}; use a name or alias from the teams table")
        return found

    def fixture_rows(self, fixtures: Fixtures) -> pl.DataFrame:
        """Feature rows for named fixtures, vectorised over all of them (event_id is null: they are not events)."""
        n = len(fixtures.home_team)
        home_ids = np.array([self.team_id(name) for name in fixtures.home_team], dtype=np.int64)
        away_ids = np.array([self.team_id(name) for name in fixtures.away_team], dtype=np.int64)
        for code in set(fixtures.competition) - self.competitions:
            known = ", ".join(sorted(self.competitions))
            raise UnknownCompetitionError(f"no {self.sport} competition {code!r} in the feature build; known: {known}")
        kickoffs = pl.Series("kickoff_utc", [as_utc(k) for k in fixtures.kickoff], dtype=pl.Datetime("us", "UTC"))
        kickoff_ms = np.asarray(kickoffs.dt.epoch("ms").to_numpy(), dtype=np.int64)
        season_year, season = self._season_of(fixtures.competition, kickoff_ms)
        home_idx, away_idx = _dense(self.index.tables.teams, home_ids), _dense(self.index.tables.teams, away_ids)
        schedule_def = self.index.tables.definition(Schedule)
        assert isinstance(schedule_def, Schedule)
        timeline, entry_ms = self.index.fixtures
        schedule, _ = schedule_values(
            timeline, entry_ms, np.maximum(home_idx, 0), np.maximum(away_idx, 0), kickoff_ms, schedule_def
        )
        seen = (home_idx >= 0) & (away_idx >= 0)  # a team the build has never seen play has no schedule either
        schedule = {name: np.where(seen, column, np.nan) for name, column in schedule.items()}
        template = self.index.tables.events
        columns: dict[str, pl.Series] = {
            "event_id": pl.Series("event_id", [None] * n, dtype=pl.Int64),
            "sport": pl.Series("sport", [self.sport] * n),
            "competition": pl.Series("competition", fixtures.competition),
            "season": pl.Series("season", season),
            "kickoff_utc": kickoffs,
            "home_team_id": pl.Series("home_team_id", home_ids),
            "away_team_id": pl.Series("away_team_id", away_ids),
            "neutral_site": pl.Series("neutral_site", fixtures.neutral_site, dtype=pl.Boolean),
            "status": pl.Series("status", [UPCOMING_STATUS] * n),
            "season_year": pl.Series("season_year", season_year),
            "home_idx": pl.Series("home_idx", home_idx),
            "away_idx": pl.Series("away_idx", away_idx),
            "kickoff_ms": pl.Series("kickoff_ms", kickoff_ms),
            **{name: pl.Series(name, column) for name, column in schedule.items()},
        }
        frame = template.clear(n).with_columns(
            [series.cast(template.schema[name]) for name, series in columns.items() if name in template.schema]
        )
        return training_frame(self.index, frame)

    def _season_of(self, competitions: list[str], kickoff_ms: IntArray) -> tuple[IntArray, list[str | None]]:
        """The season of the competition's latest event at or before the kickoff; the kickoff's year otherwise."""
        years = np.empty(kickoff_ms.size, dtype=np.int64)
        names: list[str | None] = [None] * kickoff_ms.size
        codes = np.asarray(competitions, dtype=object)
        for code in set(competitions):
            at = np.flatnonzero(codes == code)
            ms, season_years, season_names = self._seasons[code]
            position = np.searchsorted(ms, kickoff_ms[at], side="right") - 1
            fallback = np.asarray(
                pl.Series(kickoff_ms[at]).cast(pl.Datetime("ms", "UTC")).dt.year().to_numpy(), dtype=np.int64
            )
            years[at] = np.where(position >= 0, season_years[np.maximum(position, 0)], fallback)
            for i, p in zip(at, position, strict=True):
                names[int(i)] = season_names[int(p)] if p >= 0 else None
        return years, names


def _dense(known: IntArray, ids: IntArray) -> IntArray:
    """Positions of ``ids`` in the build's sorted team ids; -1 for a team the build has never seen play."""
    if known.size == 0:
        return np.full(ids.size, -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(known, ids), known.size - 1)
    return np.where(known[position] == ids, position, -1).astype(np.int64)


def latest_build_id(engine: Engine, sport: str, settings: Settings) -> int | None:
    entry = latest_build(engine, sport, settings)
    return None if entry is None else entry.build_id


def load_feature_snapshot(engine: Engine, sport: str, settings: Settings) -> FeatureSnapshot | None:
    """The newest build of ``sport`` (None when there is none yet), with its scheduled events' rows computed."""
    entry = latest_build(engine, sport, settings)
    if entry is None:
        return None
    tables = read_tables(entry.path, sport, default_feature_set(sport), build_id=entry.build_id)
    index = AsOfIndex.build(tables)
    scheduled = tables.events.filter(pl.col("status") == UPCOMING_STATUS).sort("kickoff_utc", "event_id")
    upcoming = training_frame(index, scheduled)
    ids = upcoming["event_id"].to_list()
    seasons: dict[str, tuple[IntArray, IntArray, list[str]]] = {}
    for (code,), group in tables.events.sort("kickoff_ms").group_by("competition", maintain_order=True):
        seasons[str(code)] = (
            np.asarray(group["kickoff_ms"].to_numpy(), dtype=np.int64),
            np.asarray(group["season_year"].to_numpy(), dtype=np.int64),
            [str(s) if s is not None else "" for s in group["season"].to_list()],
        )
    team_ids, team_names = _team_lookup(engine, sport)
    return FeatureSnapshot(
        sport=sport,
        build_id=entry.build_id,
        built_at=entry.built_at,
        index=index,
        upcoming=upcoming,
        row_of_event={int(event_id): row for row, event_id in enumerate(ids)},
        team_ids=team_ids,
        team_names=team_names,
        competitions=frozenset(seasons),
        _seasons=seasons,
    )


def _team_lookup(engine: Engine, sport: str) -> tuple[dict[str, int], dict[int, str]]:
    """Names and aliases (case-insensitive) to ids; a name wins over an alias that happens to spell it."""
    with engine.connect() as conn:
        rows = conn.execute(select(teams.c.id, teams.c.name).where(teams.c.sport == sport)).all()
        aliases = conn.execute(
            select(team_aliases.c.alias, team_aliases.c.team_id).where(team_aliases.c.sport == sport)
        ).all()
    names = {int(team_id): str(name) for team_id, name in rows}
    lookup = {str(alias).casefold(): int(team_id) for alias, team_id in aliases}
    lookup.update({name.casefold(): team_id for team_id, name in names.items()})
    return lookup, names
