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

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine

from betpipe.ingest.records import UTC_DATETIME, NormalisedBatch
from betpipe.ingest.store import IngestReport, ingest_payload

SOURCE = "sample_league"
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

TOWNS = (
    "Ashbury", "Brackenford", "Calderbridge", "Dunmoor", "Eastwick", "Fernhollow", "Glenmarsh", "Harrowgate",
    "Ironbridge", "Kestrel Vale", "Larkspur", "Millhaven", "Northcliff", "Oakhurst", "Pennybrook", "Queensford",
    "Ravenshaw", "Stonebridge", "Thornbury", "Upperton", "Westmere", "Yarrowby", "Coldwater", "Bramblewood",
)  # fmt: skip
SUFFIXES = ("United", "Town", "City", "Rovers", "Athletic", "Wanderers", "Albion", "County")
# Kickoff slots as minutes after midnight UTC of the round's first day (Saturday, or Tuesday for midweek rounds).
WEEKEND_SLOTS = (870, 690, 870, 990, 870, 1440 + 780, 870, 1440 + 930, 870, 1440 + 990, 1440 + 840, 870)
MIDWEEK_SLOTS = (1125, 1140, 1440 + 1125, 1440 + 1140, 1140, 1440 + 1140)
BOOK_KINDS = ("opening", "closing")
SELECTIONS = ("home", "draw", "away", "over", "under")
MAX_RATE = 5.0  # goal rates are capped so the Dixon–Coles weights stay positive for any |rho| <= 0.15


@dataclass(frozen=True)
class BookmakerSpec:
    """One simulated book: its margin, how noisy its view is at opening and at closing, and how it spreads margin.

    ``power`` margins (p**k with k < 1) overcharge longshots: the favourite–longshot bias of recreational books.
    """

    key: str
    margin: float
    opening_noise: float  # sd of the book's error in log-probability space
    closing_noise: float
    margin_method: Literal["multiplicative", "power"] = "multiplicative"

    def __post_init__(self) -> None:
        if not self.key or not 0.0 < self.margin < 0.3:
            raise ValueError(f"bookmaker {self.key!r}: margin must be in (0, 0.3), got {self.margin}")
        if not 0.0 <= self.closing_noise <= self.opening_noise <= 1.0:
            raise ValueError(f"bookmaker {self.key!r}: need 0 <= closing_noise <= opening_noise <= 1")
        if self.margin_method not in ("multiplicative", "power"):
            raise ValueError(f"bookmaker {self.key!r}: unknown margin_method {self.margin_method!r}")


SHARP = BookmakerSpec("sample_sharp", margin=0.025, opening_noise=0.10, closing_noise=0.035)
SOFT = BookmakerSpec("sample_soft", margin=0.06, opening_noise=0.16, closing_noise=0.08, margin_method="power")


@dataclass(frozen=True)
class SampleLeagueConfig:
    """Everything that determines the sample data; its JSON is the raw payload ``ingest_sample`` stores."""

    seed: int = 7
    n_teams: int = 20
    n_seasons: int = 6
    first_season_start: date = date(2019, 8, 10)
    n_upcoming_matchdays: int = 3  # final rounds of the last season left unplayed (scheduled, opening prices only)
    home_advantage: float = 1.3  # multiplier on the home side's goal rate
    base_goal_rate: float = 1.12  # goals per side for two average teams on neutral ground
    strength_sd: float = 0.24  # spread of attack and defence strengths (log goal-rate units)
    drift_sd: float = 0.015  # random-walk step per matchday
    season_carryover: float = 0.75  # share of a team's strength kept into next season; the rest is redrawn
    dixon_coles_rho: float = -0.05  # < 0 makes 0-0 and 1-1 more likely, as in real leagues
    midweek_every: int = 8  # every n-th round is played midweek; 0 for none
    opening_lead_hours: tuple[float, float] = (48.0, 72.0)  # opening prices captured this long before kickoff
    bookmakers: tuple[BookmakerSpec, ...] = (SHARP, SOFT)
    totals_bookmaker: str = "sample_sharp"  # the book that also prices over/under 2.5
    competition_code: str = "SAMPLE"
    competition_name: str = "Sample League"
    sport: str = "soccer"

    def __post_init__(self) -> None:
        problems = []
        if not (4 <= self.n_teams <= len(TOWNS) and self.n_teams % 2 == 0):
            problems.append(f"n_teams must be even and in [4, {len(TOWNS)}], got {self.n_teams}")
        if not 1 <= self.n_seasons <= 100:
            problems.append(f"n_seasons must be in [1, 100], got {self.n_seasons}")
        if not 0 <= self.n_upcoming_matchdays < 2 * (self.n_teams - 1):
            problems.append(f"n_upcoming_matchdays must be in [0, rounds per season), got {self.n_upcoming_matchdays}")
        checks = {
            "home_advantage": 0.5 <= self.home_advantage <= 2.0,
            "base_goal_rate": 0.2 <= self.base_goal_rate <= 3.0,
            "strength_sd": 0.0 <= self.strength_sd <= 1.0,
            "drift_sd": 0.0 <= self.drift_sd <= 0.2,
            "season_carryover": 0.0 <= self.season_carryover <= 1.0,
            "dixon_coles_rho": -0.15 <= self.dixon_coles_rho <= 0.15,
            "midweek_every": self.midweek_every >= 0 and self.midweek_every != 1,
            "opening_lead_hours": 1.0 <= self.opening_lead_hours[0] <= self.opening_lead_hours[1] <= 240.0,
        }
        problems += [f"{name} out of range: {getattr(self, name)!r}" for name, ok in checks.items() if not ok]
        keys = [book.key for book in self.bookmakers]
        if not keys or len(set(keys)) != len(keys):
            problems.append(f"bookmakers must be non-empty with distinct keys, got {keys}")
        if self.totals_bookmaker not in keys:
            problems.append(f"totals_bookmaker {self.totals_bookmaker!r} is not one of {keys}")
        if not (self.competition_code and self.competition_name and self.sport):
            problems.append("competition_code, competition_name and sport must be non-empty")
        if _season_span_days(self) >= 357:
            problems.append(f"{self.n_teams} teams do not fit one season in a year; use fewer teams")
        if problems:
            raise ValueError("invalid SampleLeagueConfig: " + "; ".join(problems))

    @property
    def locator(self) -> str:
        return f"sample-league?seed={self.seed}&teams={self.n_teams}&seasons={self.n_seasons}"

    def to_json(self) -> bytes:
        data = asdict(self)
        data["first_season_start"] = self.first_season_start.isoformat()
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> SampleLeagueConfig:
        """Parse a stored payload; anything malformed is a ``ValueError`` naming the problem."""
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError("payload is not a JSON object")
            if "first_season_start" in data:
                data["first_season_start"] = date.fromisoformat(data["first_season_start"])
            if "opening_lead_hours" in data:
                data["opening_lead_hours"] = tuple(float(h) for h in data["opening_lead_hours"])
            if "bookmakers" in data:
                data["bookmakers"] = tuple(BookmakerSpec(**book) for book in data["bookmakers"])
            return cls(**data)
        except (TypeError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a sample league config: {error}") from error


@dataclass(frozen=True)
class SampleFrames:
    """Plain frames keyed by ``event_id``; ``truth`` holds the generating probabilities and goal rates."""

    events: pl.DataFrame
    results: pl.DataFrame
    odds: pl.DataFrame
    truth: pl.DataFrame = field(repr=False)


def _rounds_per_season(n_teams: int) -> int:
    return 2 * (n_teams - 1)


def _round_offsets(config: SampleLeagueConfig) -> tuple[IntArray, NDArray[np.bool_]]:
    """Day offset of each round from the season start, and which rounds are midweek (Saturday + 3 days)."""
    offsets: list[int] = []
    midweek: list[bool] = []
    day = 0
    for index in range(_rounds_per_season(config.n_teams)):
        is_midweek = config.midweek_every > 0 and index % config.midweek_every == config.midweek_every - 1
        day += (3 if is_midweek else 4 if midweek and midweek[-1] else 7) if index else 0
        offsets.append(day)
        midweek.append(is_midweek)
    return np.array(offsets, dtype=np.int64), np.array(midweek)


def _season_span_days(config: SampleLeagueConfig) -> int:
    return int(_round_offsets(config)[0][-1]) + 3


def _season_starts(config: SampleLeagueConfig) -> list[date]:
    """Each season opens on the first-season weekday on or after the first season's anniversary."""
    first = config.first_season_start
    starts = []
    for season in range(config.n_seasons):
        anniversary = first + timedelta(days=round(365.2425 * season))
        starts.append(anniversary + timedelta(days=(first.weekday() - anniversary.weekday()) % 7))
    return starts


def _round_robin(n_teams: int) -> tuple[IntArray, IntArray]:
    """Circle-method double round robin: (rounds, matches) home and away slots; the second half mirrors the first."""
    others = list(range(1, n_teams))
    home, away = [], []
    for r in range(n_teams - 1):
        circle = [0, *others[r:], *others[:r]]
        pairs = [(circle[i], circle[n_teams - 1 - i]) for i in range(n_teams // 2)]
        pairs = [(b, a) if (i == 0 and r % 2) or (i > 0 and i % 2) else (a, b) for i, (a, b) in enumerate(pairs)]
        home.append([a for a, _ in pairs])
        away.append([b for _, b in pairs])
    h, a = np.array(home, dtype=np.int64), np.array(away, dtype=np.int64)
    return np.vstack([h, a]), np.vstack([a, h])


def _tau(home: IntArray, away: IntArray, lam: FloatArray, mu: FloatArray, rho: float) -> FloatArray:
    tau = np.ones_like(lam)
    tau = np.where((home == 0) & (away == 0), 1.0 - lam * mu * rho, tau)
    tau = np.where((home == 0) & (away == 1), 1.0 + lam * rho, tau)
    tau = np.where((home == 1) & (away == 0), 1.0 + mu * rho, tau)
    return np.where((home == 1) & (away == 1), 1.0 - rho, tau)


def _sample_scores(rng: np.random.Generator, lam: FloatArray, mu: FloatArray, rho: float) -> tuple[IntArray, IntArray]:
    """Exact Dixon–Coles draws by rejection from independent Poissons (acceptance is above 80%)."""
    home, away = rng.poisson(lam).astype(np.int64), rng.poisson(mu).astype(np.int64)
    tau_max = np.maximum.reduce([1.0 - lam * mu * rho, 1.0 + lam * rho, 1.0 + mu * rho, np.full_like(lam, 1.0 - rho)])
    tau_max = np.maximum(tau_max, 1.0)
    pending = np.arange(lam.size)
    while pending.size:
        tau = _tau(home[pending], away[pending], lam[pending], mu[pending], rho)
        rejected = pending[rng.random(pending.size) * tau_max[pending] >= tau]
        home[rejected] = rng.poisson(lam[rejected])
        away[rejected] = rng.poisson(mu[rejected])
        pending = rejected
    return home, away


def outcome_probabilities(lam: FloatArray, mu: FloatArray, rho: float = 0.0, max_goals: int = 20) -> FloatArray:
    """True (home, draw, away) probabilities of the Dixon–Coles model, shape (3, n), by summing the score grid."""
    p_home_k, p_away_k = np.exp(-lam), np.exp(-mu)
    away_cdf_below = np.zeros_like(lam)
    draw, home = p_home_k * p_away_k, np.zeros_like(lam)
    for k in range(1, max_goals + 1):
        away_cdf_below = away_cdf_below + p_away_k
        p_home_k, p_away_k = p_home_k * lam / k, p_away_k * mu / k
        draw = draw + p_home_k * p_away_k
        home = home + p_home_k * away_cdf_below
    shift = lam * mu * rho * np.exp(-lam - mu)  # the four adjusted cells: 1-0 and 0-1 gain it, 0-0 and 1-1 lose it
    home, draw = home + shift, draw - 2.0 * shift
    return np.stack([home, draw, 1.0 - home - draw])


def _book_prices(rng: np.random.Generator, truth: FloatArray, noise: float, book: BookmakerSpec) -> FloatArray:
    """A book's prices: truth seen through log-space noise, renormalised, then margin, rounded like a real book.

    Arrays are (outcomes, events) so every reduction runs over a handful of long contiguous rows.
    """
    log_view = np.log(truth) + rng.normal(0.0, noise, truth.shape)
    log_view -= np.log(np.exp(log_view).sum(axis=0))
    if book.margin_method == "multiplicative":
        implied = np.exp(log_view) * (1.0 + book.margin)
    else:  # power: k < 1 with sum(view**k) = 1 + margin, by Newton from k = 1 (quadratic, so 8 steps is plenty)
        k = np.ones(truth.shape[1])
        for _ in range(8):
            powered = np.exp(k * log_view)
            k -= (powered.sum(axis=0) - 1.0 - book.margin) / (powered * log_view).sum(axis=0)
        implied = np.exp(k * log_view)
    prices: FloatArray = np.clip(np.round(1.0 / implied, 2), 1.02, 1000.0)
    return prices


def _simulate(config: SampleLeagueConfig, n_leagues: int) -> dict[str, Any]:
    """All fixtures of ``n_leagues`` independent leagues as flat numpy arrays in (league, season, round, slot) order."""
    rng = np.random.default_rng(config.seed)
    L, S, T = n_leagues, config.n_seasons, config.n_teams
    R, M = _rounds_per_season(T), T // 2
    # Schedule: a fresh team shuffle and round order per league-season, each pair once home and once away.
    template_home, template_away = _round_robin(T)
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
    home_goals, away_goals = _sample_scores(rng, lam, mu, config.dixon_coles_rho)
    half_time = rng.binomial(home_goals, 0.45), rng.binomial(away_goals, 0.45)
    # Calendar: round dates per season, kickoff slots shuffled within each round.
    offsets, midweek = _round_offsets(config)
    epoch = date(1970, 1, 1)
    season_days = np.array([(start_day - epoch).days for start_day in _season_starts(config)], dtype=np.int64)
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
            prices[(book.key, "1x2", kind)] = _book_prices(rng, probabilities, noise, book)
            if book.key == config.totals_bookmaker:
                two_way = np.stack([p_over, 1.0 - p_over])
                prices[(book.key, "total", kind)] = _book_prices(rng, two_way, noise, book)
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
    seasons = [f"{d.year}-{d.year + 1}" for d in _season_starts(config)]
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
    per_league = base.n_seasons * _rounds_per_season(base.n_teams) * base.n_teams // 2
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


def ingest_sample(engine: Engine, config: SampleLeagueConfig | None = None) -> IngestReport:
    """Store the sample league; a second run with the same config writes nothing new."""
    config = config or SampleLeagueConfig()
    body, locator = config.to_json(), config.locator
    return ingest_payload(
        engine, source=SOURCE, locator=locator, body=body, content_type="application/json", reader=read_sample_payload
    )
