"""The built-in sample league: betpipe's own seeded soccer data (results and bookmaker odds), the default for demos.

It never reads third-party data, never touches the network and never depends on the clock: the same config always
yields the same frames. Teams have drifting latent attack/defence strengths, goals are Poisson (with a Dixon–Coles
low-score adjustment), and each book prices its own noisy view of the true 1X2 and over/under 2.5 probabilities.

Public surface:

- ``generate_sample_league(config)`` -> ``NormalisedBatch`` (source ``sample_league``), what ``make demo`` ingests;
  ``generate_sample_league_with_truth(config)`` also returns the true probabilities keyed by ``row_ref``.
- ``ingest_sample(engine, config)``: stores the config JSON as the raw payload and regenerates from it, so
  re-running is idempotent and the payload alone reproduces the data.
- ``generate_fixtures_frame(n_events, seed)`` -> ``SampleFrames``: the scaled variant for benchmarks, no DB and no
  ``row_ref`` strings. It simulates as many leagues (codes ``SAMPLE001``...) as needed and keeps the first
  ``n_events`` fixtures (league-major, then kickoff order). Frames are keyed by ``event_id`` (Int64); odds use
  ``pl.Enum`` columns so a million events (about 16 million prices) fit in memory and build in seconds.
  ``events``: event_id, competition_code/_name, season, matchday, kickoff_utc, home_idx/away_idx (global team ints),
  home_team/away_team, status; ``results``: event_id, home/away and half-time scores (finished events only);
  ``odds``: the ``ODDS_SCHEMA`` columns with event_id for row_ref; ``truth``: p_home/p_draw/p_away/p_over, rates.

>>> frames = generate_fixtures_frame(1_000, seed=1)
>>> frames.events.height, frames.odds["price"].min() > 1.01
(1000, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine, select

from betpipe.ingest.records import UTC_DATETIME, NormalisedBatch
from betpipe.ingest.sample_league_model import (
    BOOK_KINDS,
    MAX_RATE,
    MIDWEEK_SLOTS,
    SELECTIONS,
    SHARP,
    SOFT,
    SUFFIXES,
    TOWNS,
    WEEKEND_SLOTS,
    BookmakerSpec,
    SampleLeagueConfig,
    book_prices,
    outcome_probabilities,
    round_offsets,
    round_robin,
    rounds_per_season,
    sample_scores,
    season_starts,
)
from betpipe.ingest.store import IngestReport, ingest_payload

SOURCE = "sample_league"
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "SHARP",
    "SOFT",
    "BookmakerSpec",
    "SampleFrames",
    "SampleLeagueConfig",
    "generate_fixtures_frame",
    "generate_sample_league",
    "generate_sample_league_with_truth",
    "ingest_sample",
    "outcome_probabilities",
    "read_sample_payload",
]


@dataclass(frozen=True)
class SampleFrames:
    """Plain frames keyed by ``event_id``; ``truth`` holds the generating probabilities and goal rates."""

    events: pl.DataFrame
    results: pl.DataFrame
    odds: pl.DataFrame
    truth: pl.DataFrame = field(repr=False)


def _simulate(config: SampleLeagueConfig, n_leagues: int) -> dict[str, Any]:
    """All fixtures of ``n_leagues`` independent leagues as flat numpy arrays in (league, season, round, slot) order."""
    rng = np.random.default_rng(config.seed)
    L, S, T = n_leagues, config.n_seasons, config.n_teams
    R, M = rounds_per_season(T), T // 2
    # Schedule: a fresh team shuffle and round order per league-season, each pair once home and once away.
    template_home, template_away = round_robin(T)
    shuffle = np.argsort(rng.random((L, S, 1, T)), axis=-1)
    half = np.argsort(rng.random((L, S, 2, T - 1)), axis=-1) + np.array([0, T - 1]).reshape(1, 1, 2, 1)
    order = half.reshape(L, S, R)
    home = np.take_along_axis(np.broadcast_to(shuffle, (L, S, R, T)), template_home[order], axis=-1)
    away = np.take_along_axis(np.broadcast_to(shuffle, (L, S, R, T)), template_away[order], axis=-1)
    # Strengths: a random walk per round within a season, partly regressed to the mean between seasons.
    attack, defence = np.empty((L, S, R, T)), np.empty((L, S, R, T))
    start = rng.normal(0.0, config.strength_sd, (2, L, T))
    keep = config.season_carryover
    for season in range(S):
        if season:
            fresh = rng.normal(0.0, config.strength_sd, (2, L, T))
            start = keep * np.stack([attack[:, season - 1, -1], defence[:, season - 1, -1]]) + (
                math.sqrt(1.0 - keep**2) * fresh
            )
        steps = rng.normal(0.0, config.drift_sd, (2, L, R, T))
        steps[:, :, 0] = 0.0
        walk = start[:, :, None, :] + np.cumsum(steps, axis=2)
        walk -= walk.mean(axis=-1, keepdims=True)
        attack[:, season], defence[:, season] = walk[0], walk[1]

    def at(strength: FloatArray, team: IntArray) -> FloatArray:
        return np.take_along_axis(strength, team, axis=-1).ravel()

    base = config.base_goal_rate
    lam = np.minimum(base * config.home_advantage * np.exp(at(attack, home) - at(defence, away)), MAX_RATE)
    mu = np.minimum(base * np.exp(at(attack, away) - at(defence, home)), MAX_RATE)
    n = lam.size
    home_goals, away_goals = sample_scores(rng, lam, mu, config.dixon_coles_rho)
    half_time = rng.binomial(home_goals, 0.45), rng.binomial(away_goals, 0.45)
    # Calendar: round dates per season, kickoff slots shuffled within each round.
    offsets, midweek = round_offsets(config)
    epoch = date(1970, 1, 1)
    season_days = np.array([(start_day - epoch).days for start_day in season_starts(config)], dtype=np.int64)
    round_day = season_days[:, None] + offsets[None, :]
    weekend = np.resize(np.array(WEEKEND_SLOTS, dtype=np.int64), M)
    midweek_slots = np.resize(np.array(MIDWEEK_SLOTS, dtype=np.int64), M)
    slot_order = np.argsort(rng.random((L, S, R, M)), axis=-1)
    slots = np.where(midweek[None, None, :, None], midweek_slots[slot_order], weekend[slot_order])
    kickoff_minutes = (round_day[None, :, :, None] * 1440 + slots).ravel()
    lead_hours = rng.uniform(*config.opening_lead_hours, n)
    opening_minutes = kickoff_minutes - np.round(lead_hours * 60.0).astype(np.int64)
    grid = np.indices((L, S, R, M)).reshape(4, n)
    scheduled = (grid[1] == S - 1) & (grid[2] >= R - config.n_upcoming_matchdays)
    probabilities = outcome_probabilities(lam, mu, config.dixon_coles_rho)
    p_over = 1.0 - np.exp(-(lam + mu)) * (1.0 + (lam + mu) + (lam + mu) ** 2 / 2.0)  # DC leaves totals unchanged
    prices: dict[tuple[str, str, str], FloatArray] = {}
    for book in config.bookmakers:
        for kind, noise in zip(BOOK_KINDS, (book.opening_noise, book.closing_noise), strict=True):
            prices[(book.key, "1x2", kind)] = book_prices(rng, probabilities, noise, book)
            if book.key == config.totals_bookmaker:
                two_way = np.stack([p_over, 1.0 - p_over])
                prices[(book.key, "total", kind)] = book_prices(rng, two_way, noise, book)
    return {
        "league": grid[0], "season": grid[1], "round": grid[2], "home": home.ravel(), "away": away.ravel(),
        "kickoff_minutes": kickoff_minutes, "opening_minutes": opening_minutes, "scheduled": scheduled,
        "lam": lam, "mu": mu, "probabilities": probabilities, "p_over": p_over, "prices": prices,
        "home_goals": home_goals, "away_goals": away_goals, "half_time": half_time,
    }  # fmt: skip


def _minutes_to_utc(minutes: IntArray) -> pl.Series:
    return pl.Series(minutes * 60_000_000, dtype=pl.Int64).cast(UTC_DATETIME)


def _frames(config: SampleLeagueConfig, n_leagues: int, n_events: int | None = None) -> SampleFrames:
    sim = _simulate(config, n_leagues)
    T = config.n_teams
    n = sim["lam"].size if n_events is None else n_events
    single = n_events is None  # the scaled variant always numbers its leagues, however few it needs
    codes = [config.competition_code if single else f"{config.competition_code}{i + 1:03d}" for i in range(n_leagues)]
    names = [config.competition_name if single else f"{config.competition_name} {i + 1}" for i in range(n_leagues)]
    teams = [
        f"{TOWNS[t]} {SUFFIXES[(t * 5 + 3) % len(SUFFIXES)]}" + ("" if single else f" ({league + 1:03d})")
        for league in range(n_leagues)
        for t in range(T)
    ]
    seasons = [f"{d.year}-{d.year + 1}" for d in season_starts(config)]
    league, home_idx, away_idx = sim["league"][:n], sim["home"][:n] + sim["league"][:n] * T, sim["away"][:n]
    away_idx = away_idx + league * T
    scheduled = sim["scheduled"][:n]
    events = pl.DataFrame(
        {
            "event_id": np.arange(n, dtype=np.int64),
            "competition_code": pl.Series(codes).gather(league),
            "competition_name": pl.Series(names).gather(league),
            "season": pl.Series(seasons).gather(sim["season"][:n]),
            "matchday": sim["round"][:n] + 1,
            "kickoff_utc": _minutes_to_utc(sim["kickoff_minutes"][:n]),
            "home_idx": home_idx,
            "away_idx": away_idx,
            "home_team": pl.Series(teams).gather(home_idx),
            "away_team": pl.Series(teams).gather(away_idx),
            "status": np.where(scheduled, "scheduled", "finished"),
        }
    )
    played = ~scheduled
    scores = ("home_score", "away_score", "ht_home_score", "ht_away_score")
    score_arrays = (sim["home_goals"], sim["away_goals"], *sim["half_time"])
    results = pl.DataFrame(
        {"event_id": np.flatnonzero(played)}
        | {name: values[:n][played] for name, values in zip(scores, score_arrays, strict=True)}
    )
    hidden = dict(zip(("p_home", "p_draw", "p_away"), sim["probabilities"][:, :n], strict=True)) | {
        "p_over": sim["p_over"][:n],
        "home_rate": sim["lam"][:n],
        "away_rate": sim["mu"][:n],
    }
    truth = pl.DataFrame({"event_id": np.arange(n, dtype=np.int64)} | hidden)
    return SampleFrames(events, results, _odds_frame(config, sim, n), truth)


def _odds_frame(config: SampleLeagueConfig, sim: dict[str, Any], n: int) -> pl.DataFrame:
    """Event-major odds rows: one wide (event x price column) matrix, flattened once and labelled by column."""
    keys = [book.key for book in config.bookmakers]
    labels: list[tuple[str, str, str, str]] = []  # (book, market, kind, selection) per price column
    blocks = []
    for (book_key, market, kind), prices in sim["prices"].items():
        names = SELECTIONS[:3] if market == "1x2" else SELECTIONS[3:]
        labels += [(book_key, market, kind, name) for name in names]
        blocks.append(prices[:, :n])
    width = len(labels)
    is_closing = np.array([label[2] == "closing" for label in labels])
    captured = np.where(is_closing, sim["kickoff_minutes"][:n, None], sim["opening_minutes"][:n, None])
    wide = pl.DataFrame(
        {
            "event_id": np.repeat(np.arange(n, dtype=np.int64), width),
            "column": np.tile(np.arange(width, dtype=np.uint32), n),
            "price": np.vstack(blocks).T.ravel(),
            "captured_at": _minutes_to_utc(captured.ravel()),
        }
    )

    def label(position: int, categories: list[str] | tuple[str, ...]) -> pl.Expr:
        values = pl.Series([item[position] for item in labels], dtype=pl.Enum(list(categories)))
        return pl.lit(values).gather(pl.col("column"))

    # Unplayed events have no closing prices yet.
    keep = ~(np.repeat(sim["scheduled"][:n], width) & np.tile(is_closing, n))
    return wide.filter(pl.Series(keep)).select(
        "event_id",
        label(0, keys).alias("bookmaker"),
        label(1, ("1x2", "total")).alias("market"),
        label(3, SELECTIONS).alias("selection"),
        pl.lit(pl.Series([2.5 if item[1] == "total" else 0.0 for item in labels]))
        .gather(pl.col("column"))
        .alias("line"),
        "price",
        label(2, BOOK_KINDS).alias("kind"),
        "captured_at",
    )


def generate_fixtures_frame(n_events: int, seed: int = 7, *, config: SampleLeagueConfig | None = None) -> SampleFrames:
    """Exactly ``n_events`` fixtures from as many ``config``-shaped leagues as needed, for benchmarks (no DB)."""
    if n_events < 1:
        raise ValueError(f"n_events must be positive, got {n_events}")
    base = SampleLeagueConfig(seed=seed) if config is None else config
    per_league = base.n_seasons * rounds_per_season(base.n_teams) * base.n_teams // 2
    return _frames(base, n_leagues=-(-n_events // per_league), n_events=n_events)


def generate_sample_league_with_truth(config: SampleLeagueConfig) -> tuple[NormalisedBatch, pl.DataFrame]:
    """The batch plus the true probabilities (``row_ref``, p_home/p_draw/p_away/p_over, goal rates) for tests."""
    frames = _frames(config, n_leagues=1)
    ref = pl.concat_str(
        pl.col("competition_code"),
        pl.col("season"),
        pl.col("matchday").cast(pl.Utf8).str.zfill(2),
        pl.concat_str(pl.col("home_idx").cast(pl.Utf8), pl.col("away_idx").cast(pl.Utf8), separator="v"),
        separator=":",
    )
    refs = frames.events.select("event_id", ref.alias("row_ref"))
    events = frames.events.with_columns(
        row_ref=ref,
        external_id=ref,
        sport=pl.lit(config.sport),
        kickoff_time_known=pl.lit(True),
        neutral_site=pl.lit(False),
        attributes=pl.format('{{"matchday": {}}}', pl.col("matchday")),
    )
    odds = frames.odds.join(refs, on="event_id").with_columns(
        pl.col("bookmaker", "market", "selection", "kind").cast(pl.Utf8)
    )
    batch = NormalisedBatch(
        source=SOURCE,
        locator=config.locator,
        rows_read=events.height,
        events=events,
        results=frames.results.join(refs, on="event_id"),
        odds=odds,
    )
    return batch, frames.truth.join(refs, on="event_id").drop("event_id").select("row_ref", pl.exclude("row_ref"))


def generate_sample_league(config: SampleLeagueConfig | None = None) -> NormalisedBatch:
    """The sample league as a normalised batch (source ``sample_league``), ready for ``ingest.store.write_batch``."""
    return generate_sample_league_with_truth(config or SampleLeagueConfig())[0]


def read_sample_payload(body: bytes, locator: str) -> NormalisedBatch:
    """The ingest reader: the payload is a config's JSON, so the stored raw bytes regenerate the data exactly."""
    del locator  # the payload alone determines the data
    return generate_sample_league(SampleLeagueConfig.from_json(body))


class MixedStoreError(ValueError):
    """The sample league and real data asked to share one store."""


def ensure_unmixed(engine: Engine, *, sample: bool) -> None:
    """Refuse to put the generated sample league and real-source events into one store.

    Training holds out "the last season" and evaluation scores every row of a sport: in a mixed store the sample's
    synthetic matches would become a real champion's held-out metrics and inflate every real evaluation. So each
    lives in its own store (data dir), checked before anything is written; ``sample`` says which side is arriving."""
    from betpipe.db.schema import events

    other = events.c.source != SOURCE if sample else events.c.source == SOURCE
    with engine.connect() as conn:
        found = conn.execute(select(events.c.source).where(other).limit(1)).scalar()
    if found is None:
        return
    if sample:
        raise MixedStoreError(
            f"this store already holds real data (source {found!r}): put the sample league in its own store, "
            "e.g. BETPIPE_DATA_DIR=betpipe-data/sample betpipe db upgrade, then ingest sample there"
        )
    raise MixedStoreError(
        "this store holds the generated sample league: put real data in its own store, "
        "e.g. BETPIPE_DATA_DIR=betpipe-data/real betpipe db upgrade, then ingest there"
    )


def ingest_sample(engine: Engine, config: SampleLeagueConfig | None = None) -> IngestReport:
    """Store the sample league; a second run with the same config writes nothing new. Refuses a store that holds
    real-source events (``ensure_unmixed``)."""
    ensure_unmixed(engine, sample=True)
    config = config or SampleLeagueConfig()
    body, locator = config.to_json(), config.locator
    return ingest_payload(
        engine, source=SOURCE, locator=locator, body=body, content_type="application/json", reader=read_sample_payload
    )
