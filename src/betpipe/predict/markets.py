"""Every soccer market of an event, priced from one score grid fitted to the champion's 1X2 and a total-goals anchor.

The grid (``modeling.market_implied.fit_market_goals``, the fit the backtest and the live run use) reproduces the
champion's home/draw/away probabilities; the third unknown (rho) and the goal total come from the anchor, in order:
1. the sharp book's (Pinnacle; the sample league's sharp book in the demo) margin-free pre-match O/U 2.5, captured
   before kickoff and at or before the snapshot's instant: the market's own view of the total;
2. else the competition's O/U 2.5 base rate (share of its last ``BASE_RATE_MATCHES`` finished matches in the feature
   build with three or more goals, at least ``BASE_RATE_MIN``): the reference forecast docs/results.md judges O/U
   against, known for every competition the build has, and independent of the champion's model family;
3. else, or where the anchored fit cannot reproduce the champion's 1X2 to ``EXACT_1X2`` (rho at its bound), the 1X2
   alone with rho = 0 (a Poisson grid whose total follows from the draw probability).
Computed once per (snapshot, model version) for scheduled events, never on a request; a fixture by teams (its
probabilities come from a model call on the request already) is fitted in its request, one row of numpy. Must never
read the database after loading, and never fit a market the grid does not price exactly as settlement grades it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine, select

from betpipe.db.bulk import as_utc
from betpipe.db.schema import bookmakers, events, odds_snapshots
from betpipe.features.close_inputs import SHARP_BOOKS
from betpipe.features.prematch import PREMATCH_KINDS
from betpipe.modeling.market_implied import fit_market_goals
from betpipe.modeling.score_grid import LineProbabilities, ScoreGrid, dixon_coles_grid
from betpipe.odds import remove_margin_or_nan
from betpipe.predict.snapshot import FeatureSnapshot

__all__ = [
    "ANCHOR_BASE_RATE",
    "ANCHOR_NONE",
    "ANCHOR_SHARP",
    "HANDICAP_LINES",
    "TOTAL_LINES",
    "MarketBodies",
    "TotalAnchors",
    "load_anchors",
    "market_bodies",
]

FloatArray = NDArray[np.float64]
TOTAL_LINES: tuple[float, ...] = tuple(float(x) for x in np.arange(0.5, 5.5 + 1e-9, 0.25))
HANDICAP_LINES: tuple[float, ...] = tuple(float(x) for x in np.arange(-3.0, 3.0 + 1e-9, 0.25))
MAIN_TOTAL = 2.5
CORRECT_SCORE_MAX = 5  # 0-0 .. 5-5 listed one by one; the rest of the grid is ``other``
BASE_RATE_MATCHES, BASE_RATE_MIN = 380, 50
EXACT_1X2 = 1e-9
FIT_ITERATIONS = 20  # a row the anchor allows converges within ~10 steps; one it does not (rho at its bound) would
# spend the fit's default 60 on the snapshot's time before falling back to the 1X2 alone
ANCHOR_SHARP, ANCHOR_BASE_RATE, ANCHOR_NONE = "sharp_ou_2.5", "competition_ou_2.5_rate", "none"
GRADES = ("won", "half_won", "push", "half_lost", "lost")
DEPTHS = frozenset({"main", "all"})


@dataclass(frozen=True)
class TotalAnchors:
    """Per scheduled event of a feature snapshot (its ``upcoming`` rows): P(over 2.5) to anchor the total and where
    it came from; and per competition the base rate a fixture by teams falls back to."""

    p_over: FloatArray
    source: tuple[str, ...]
    base_rate: dict[str, float]

    def for_competitions(self, codes: list[str]) -> tuple[FloatArray, tuple[str, ...]]:
        p = np.array([self.base_rate.get(code, np.nan) for code in codes], dtype=np.float64)
        return p, tuple(ANCHOR_BASE_RATE if np.isfinite(x) else ANCHOR_NONE for x in p)


@dataclass(frozen=True)
class MarketBodies:
    """Per event, the response's ``markets`` object: the main lines and every line (plain JSON-ready dicts)."""

    main: list[dict[str, Any]]
    full: list[dict[str, Any]]


def _base_rates(features: FeatureSnapshot, now: datetime) -> dict[str, float]:
    played = features.index.tables.events.filter(
        pl.col("home_score").is_not_null(),
        pl.col("away_score").is_not_null(),
        pl.col("kickoff_utc").dt.epoch("ms") <= int(as_utc(now).timestamp() * 1000),
    )
    rates = (
        played.sort("kickoff_utc")
        .group_by("competition", maintain_order=True)
        .agg(((pl.col("home_score") + pl.col("away_score")) >= 3).tail(BASE_RATE_MATCHES).alias("over"))
        .with_columns(pl.col("over").list.len().alias("n"), pl.col("over").list.mean().alias("rate"))
        .filter(pl.col("n") >= BASE_RATE_MIN)
    )
    return {str(code): float(rate) for code, rate in rates.select("competition", "rate").rows()}


def _sharp_over(engine: Engine, event_ids: list[int], now: datetime, method: str) -> dict[int, float]:
    """Per event: the first of ``SHARP_BOOKS`` with a two-sided pre-match O/U 2.5 known at ``now`` before kickoff,
    its latest quote per side, margin-free."""
    if not event_ids:
        return {}
    query = (
        select(odds_snapshots.c.event_id, bookmakers.c.key, odds_snapshots.c.selection, odds_snapshots.c.price)
        .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
        .join(events, events.c.id == odds_snapshots.c.event_id)
        .where(
            events.c.status == "scheduled", odds_snapshots.c.market == "total", odds_snapshots.c.line == 2.5,
            odds_snapshots.c.kind.in_(list(PREMATCH_KINDS)), bookmakers.c.key.in_(list(SHARP_BOOKS)),
            odds_snapshots.c.captured_at <= now, odds_snapshots.c.captured_at < events.c.kickoff_utc,
        )
        .order_by(odds_snapshots.c.captured_at, odds_snapshots.c.id)
    )  # fmt: skip
    wanted = set(event_ids)
    latest: dict[tuple[int, str], dict[str, float]] = {}
    with engine.connect() as conn:
        for event_id, book, selection, price in conn.execute(query):
            if int(event_id) in wanted and selection in ("over", "under"):
                latest.setdefault((int(event_id), str(book)), {})[str(selection)] = float(price)
    out: dict[int, float] = {}
    for book in reversed(SHARP_BOOKS):  # the first book of SHARP_BOOKS is written last and wins
        keys = [(e, b) for (e, b), sides in latest.items() if b == book and len(sides) == 2]
        if not keys:
            continue
        prices = np.array([[latest[k]["over"], latest[k]["under"]] for k in keys], dtype=np.float64)
        fair = remove_margin_or_nan(prices, method)[:, 0]
        out.update({e: float(p) for (e, _), p in zip(keys, fair, strict=True) if np.isfinite(p)})
    return out


def load_anchors(
    engine: Engine, features: FeatureSnapshot, *, now: datetime, method: str = "multiplicative"
) -> TotalAnchors:
    """The total-goals anchor of every scheduled event of ``features`` as known at ``now`` (read once, at load)."""
    rates = _base_rates(features, now)
    ids = [int(e) for e in features.upcoming.get_column("event_id").to_list()]
    sharp = _sharp_over(engine, ids, as_utc(now), method)
    codes = [str(c) for c in features.upcoming.get_column("competition").to_list()]
    p_over = np.array([sharp.get(e, rates.get(c, np.nan)) for e, c in zip(ids, codes, strict=True)], dtype=np.float64)
    source = tuple(
        ANCHOR_SHARP if e in sharp else ANCHOR_BASE_RATE if c in rates else ANCHOR_NONE
        for e, c in zip(ids, codes, strict=True)
    )
    return TotalAnchors(p_over, source, rates)


def _fit(p1x2: FloatArray, p_over: FloatArray, source: tuple[str, ...]) -> tuple[ScoreGrid, FloatArray, list[str]]:
    """The anchored grid, refitted from the 1X2 alone on rows where the anchor would move the 1X2."""
    anchors = list(source)
    goals = fit_market_goals(p1x2, p_over, max_iter=FIT_ITERATIONS)
    lam, mu, rho = goals.home_goals.copy(), goals.away_goals.copy(), goals.rho.copy()
    off = np.abs(goals.grid().one_x_two() - p1x2).max(axis=1) > EXACT_1X2
    off &= np.isfinite(p_over)
    if off.any():
        alone = fit_market_goals(p1x2[off], np.full(int(off.sum()), np.nan), max_iter=FIT_ITERATIONS)
        lam[off], mu[off], rho[off] = alone.home_goals, alone.away_goals, alone.rho
        for i in np.flatnonzero(off):
            anchors[int(i)] = ANCHOR_NONE
    grid = dixon_coles_grid(lam, mu, rho, max_goals=goals.max_goals)
    return grid, np.column_stack([lam, mu, rho]), anchors


def _grades(lp: LineProbabilities) -> FloatArray:
    """(N, 6): the five settlement grades and the no-push probability of one selection at one line."""
    return np.column_stack([lp.won, lp.half_won, lp.void, lp.half_lost, lp.lost, lp.no_push_probability])


def _grade_dict(row: list[float]) -> dict[str, float]:
    return {**dict(zip(GRADES, row[:5], strict=True)), "probability": row[5]}


def market_bodies(
    p1x2: FloatArray, p_over: FloatArray, source: tuple[str, ...], *, depths: frozenset[str] = DEPTHS
) -> MarketBodies:
    """Per row of ``p1x2`` (N, 3): the ``markets`` object at each of ``depths`` (``main``, ``all``; a depth not
    asked for is an empty list), from one fit over all rows."""
    n = p1x2.shape[0]
    if n == 0:
        return MarketBodies([], [])
    grid, params, anchors = _fit(np.asarray(p1x2, dtype=np.float64), np.asarray(p_over, dtype=np.float64), source)
    one_x_two = grid.one_x_two()
    totals = {line: (_grades(grid.totals(line, "over")), _grades(grid.totals(line, "under"))) for line in TOTAL_LINES}
    handicaps = {
        line: (_grades(grid.asian_handicap(line, "home")), _grades(grid.asian_handicap(line, "away")))
        for line in HANDICAP_LINES
    }
    home_no_push = np.column_stack([handicaps[line][0][:, 5] for line in HANDICAP_LINES])
    gap = np.where(np.isfinite(home_no_push), np.abs(home_no_push - 0.5), np.inf)
    size = np.abs(np.array(HANDICAP_LINES))
    main_ah = [HANDICAP_LINES[int(np.lexsort((size, g))[0])] for g in gap]  # nearest even, smaller line on a tie
    btts = grid.btts()
    double, dnb = grid.double_chance(), grid.draw_no_bet()
    k = CORRECT_SCORE_MAX + 1
    scores = grid.probabilities[:, :k, :k].reshape(n, -1)
    rmse = np.sqrt(((one_x_two - p1x2) ** 2).mean(axis=1))
    rows = {
        "one_x_two": one_x_two.tolist(), "params": params.tolist(), "btts": btts.tolist(), "rmse": rmse.tolist(),
        "double": double.tolist(), "dnb": dnb.tolist(), "scores": scores.tolist(), "p_over": p_over.tolist(),
        "totals": {line: (o.tolist(), u.tolist()) for line, (o, u) in totals.items()},
        "handicaps": {line: (h.tolist(), a.tolist()) for line, (h, a) in handicaps.items()},
    }  # fmt: skip
    main: list[dict[str, Any]] = []
    full: list[dict[str, Any]] = []
    for i in range(n):
        home, draw, away = rows["one_x_two"][i]
        lam, mu, rho = rows["params"][i]
        anchored = anchors[i] != ANCHOR_NONE
        common = {
            "grid": {
                "home_goals": lam, "away_goals": mu, "rho": rho, "total_anchor": anchors[i],
                "anchor_p_over": rows["p_over"][i] if anchored else None, "one_x_two_rmse": rows["rmse"][i],
            },
            "one_x_two": {"home": home, "draw": draw, "away": away},
            "btts": {"yes": rows["btts"][i], "no": 1.0 - rows["btts"][i]},
            "asian_handicap_main_line": main_ah[i],
        }  # fmt: skip

        def total(line: float, i: int = i) -> dict[str, Any]:
            over, under = rows["totals"][line]
            return {"line": line, "over": _grade_dict(over[i]), "under": _grade_dict(under[i])}

        def handicap(line: float, i: int = i) -> dict[str, Any]:
            home_side, away_side = rows["handicaps"][line]
            return {"line": line, "home": _grade_dict(home_side[i]), "away": _grade_dict(away_side[i])}

        if "main" in depths:
            main.append(
                {
                    "depth": "main", **common, "totals": [total(MAIN_TOTAL)],
                    "asian_handicap": [handicap(main_ah[i])], "double_chance": None, "draw_no_bet": None,
                    "correct_score": None,
                }
            )  # fmt: skip
        if "all" in depths:
            cells = rows["scores"][i]
            listed = [{"home": h, "away": a, "probability": cells[h * k + a]} for h in range(k) for a in range(k)]
            full.append(
                {
                    "depth": "all", **common, "totals": [total(line) for line in TOTAL_LINES],
                    "asian_handicap": [handicap(line) for line in HANDICAP_LINES],
                    "double_chance": dict(zip(("home_draw", "draw_away", "home_away"), rows["double"][i], strict=True)),
                    "draw_no_bet": dict(zip(("home", "away"), rows["dnb"][i], strict=True)),
                    "correct_score": {"scores": listed, "other": max(0.0, 1.0 - sum(cells))},
                }
            )  # fmt: skip
    return MarketBodies(main, full)
