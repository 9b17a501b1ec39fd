"""The sample league's model: its configuration, schedule, Dixon–Coles scores and bookmaker pricing (pure numpy).

Split from ``sample_league`` (which builds frames and ingests) so each stays small. Never reads data or the clock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

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
        if season_span_days(self) >= 357:
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


def rounds_per_season(n_teams: int) -> int:
    return 2 * (n_teams - 1)


def round_offsets(config: SampleLeagueConfig) -> tuple[IntArray, NDArray[np.bool_]]:
    """Day offset of each round from the season start, and which rounds are midweek (Saturday + 3 days)."""
    offsets: list[int] = []
    midweek: list[bool] = []
    day = 0
    for index in range(rounds_per_season(config.n_teams)):
        is_midweek = config.midweek_every > 0 and index % config.midweek_every == config.midweek_every - 1
        day += (3 if is_midweek else 4 if midweek and midweek[-1] else 7) if index else 0
        offsets.append(day)
        midweek.append(is_midweek)
    return np.array(offsets, dtype=np.int64), np.array(midweek)


def season_span_days(config: SampleLeagueConfig) -> int:
    return int(round_offsets(config)[0][-1]) + 3


def season_starts(config: SampleLeagueConfig) -> list[date]:
    """Each season opens on the first-season weekday on or after the first season's anniversary."""
    first = config.first_season_start
    starts = []
    for season in range(config.n_seasons):
        anniversary = first + timedelta(days=round(365.2425 * season))
        starts.append(anniversary + timedelta(days=(first.weekday() - anniversary.weekday()) % 7))
    return starts


def round_robin(n_teams: int) -> tuple[IntArray, IntArray]:
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


def sample_scores(rng: np.random.Generator, lam: FloatArray, mu: FloatArray, rho: float) -> tuple[IntArray, IntArray]:
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


def book_prices(rng: np.random.Generator, truth: FloatArray, noise: float, book: BookmakerSpec) -> FloatArray:
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
