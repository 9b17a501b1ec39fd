"""The ``markets`` object of a soccer prediction (``predict.markets``): every market priced from one score grid.

Units: probabilities are fractions in [0, 1]; lines and goal expectations are in goals; a line's five settlement
grades are those ``betpipe.sports.grade_selection`` gives (a quarter line's half win / half loss, a whole line's
push), so they sum to 1 per selection. Must never carry a market the grid did not price.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["MARKETS_EXAMPLE", "Markets"]


def _share(what: str) -> Any:
    """A probability field's description, ending in its unit."""
    return Field(description=f"{what}: a probability, a fraction in [0, 1].")


class LineGrades(BaseModel):
    """One selection at one line: each settlement grade's probability (the five sum to 1) and the fair two-way one."""

    won: float = _share("The whole stake wins")
    half_won: float = _share("Half wins, half is refunded (quarter lines only)")
    push: float = _share("The stake is refunded (whole lines only)")
    half_lost: float = _share("Half loses, half is refunded (quarter lines only)")
    lost: float = _share("The whole stake loses")
    probability: float = _share(
        "The no-push probability (won + half_won/2) / (won + half_won/2 + lost + half_lost/2): what a margin-free "
        "book quotes, so 1 / probability is the fair decimal price; the two selections of a line sum to 1"
    )


class TotalLine(BaseModel):
    line: float = Field(description="The total in goals (0.5 .. 5.5, quarter steps): over wins above it.")
    over: LineGrades = Field(description="Over the line.")
    under: LineGrades = Field(description="Under the line.")


class HandicapLine(BaseModel):
    line: float = Field(
        description="The home side's Asian handicap in goals (-3 .. +3, quarter steps; -0.5: home must win); the "
        "away side carries the opposite line."
    )
    home: LineGrades = Field(description="The home side at `line`.")
    away: LineGrades = Field(description="The away side at `-line`.")


class GridInfo(BaseModel):
    """The score grid every market here is read from: Dixon-Coles with these parameters, censored at 10 goals."""

    home_goals: float = Field(description="The home side's expected goals (Poisson mean, goals per match).")
    away_goals: float = Field(description="The away side's expected goals (Poisson mean, goals per match).")
    rho: float = Field(description="Dixon-Coles' low-score dependence (dimensionless, within +-0.2; 0 = Poisson).")
    total_anchor: Literal["sharp_ou_2.5", "competition_ou_2.5_rate", "none"] = Field(
        description="What fixed the total besides the 1X2: the sharp book's (Pinnacle; the demo's sample_sharp) "
        "margin-free pre-match O/U 2.5 known before kickoff; else the competition's share of 3+ goal matches "
        "over its last 380 finished ones; `none`: the 1X2 alone with rho = 0 (no anchor, or one the grid "
        "could not meet without moving the 1X2)."
    )
    anchor_p_over: float | None = Field(
        description="The anchor's P(over 2.5), a fraction in [0, 1]; null when `total_anchor` is `none`."
    )
    one_x_two_rmse: float = Field(
        description="Root mean square difference between the grid's 1X2 and the model's probabilities (a fraction)."
    )


class OneXTwo(BaseModel):
    home: float = _share("Home win, as the grid prices it (equals the prediction's `probabilities`)")
    draw: float = _share("Draw")
    away: float = _share("Away win")


class BothTeamsToScore(BaseModel):
    yes: float = _share("Both sides score")
    no: float = _share("At least one side does not score")


class DoubleChance(BaseModel):
    home_draw: float = _share("Home or draw (1X)")
    draw_away: float = _share("Draw or away (X2)")
    home_away: float = _share("Either side wins (12)")


class DrawNoBet(BaseModel):
    home: float = _share("Home given no draw (a draw refunds the stake)")
    away: float = _share("Away given no draw")


class ScoreCell(BaseModel):
    home: int = Field(description="Home goals.")
    away: int = Field(description="Away goals.")
    probability: float = _share("This exact score")


class CorrectScore(BaseModel):
    scores: list[ScoreCell] = Field(description="Every score from 0-0 to 5-5, home goals first.")
    other: float = _share("Any score with 6 or more goals on a side")


class Markets(BaseModel):
    """Every soccer market from one grid fitted to the prediction's 1X2 and a total-goals anchor (``grid``)."""

    depth: Literal["main", "all"] = Field(description="`main` or `all`, as the query's `markets` asked.")
    grid: GridInfo = Field(description="The grid's parameters and what anchored its total.")
    one_x_two: OneXTwo = Field(description="1X2 from the grid.")
    btts: BothTeamsToScore = Field(description="Both teams to score.")
    asian_handicap_main_line: float = Field(
        description="The home handicap in goals (quarter steps) whose home no-push probability is nearest 1/2."
    )
    totals: list[TotalLine] = Field(description="O/U: 2.5 alone for `main`; 0.5 .. 5.5 in quarter steps for `all`.")
    asian_handicap: list[HandicapLine] = Field(
        description="AH: the main line alone for `main`; -3 .. +3 in quarter steps for `all`."
    )
    double_chance: DoubleChance | None = Field(description="Double chance; null for `main`.")
    draw_no_bet: DrawNoBet | None = Field(description="Draw no bet; null for `main`.")
    correct_score: CorrectScore | None = Field(description="Correct score; null for `main`.")


# The markets of PREDICTION_EXAMPLE's probabilities (no stored O/U price, and the draw too low for the competition's
# rate within rho's bound: the 1X2 alone fixes the grid), rounded to 4 places.
MARKETS_EXAMPLE: dict[str, object] = {
    "depth": "main",
    "grid": {"home_goals": 3.0834, "away_goals": 0.7288, "rho": 0.0, "total_anchor": "none", "anchor_p_over": None,
             "one_x_two_rmse": 0.0},
    "one_x_two": {"home": 0.8353, "draw": 0.1077, "away": 0.0570},
    "btts": {"yes": 0.4938, "no": 0.5062},
    "asian_handicap_main_line": -2.25,
    "totals": [{"line": 2.5,
                "over": {"won": 0.7331, "half_won": 0.0, "push": 0.0, "half_lost": 0.0, "lost": 0.2669,
                         "probability": 0.7331},
                "under": {"won": 0.2669, "half_won": 0.0, "push": 0.0, "half_lost": 0.0, "lost": 0.7331,
                          "probability": 0.2669}}],
    "asian_handicap": [{"line": -2.25,
                        "home": {"won": 0.4464, "half_won": 0.0, "push": 0.0, "half_lost": 0.2095, "lost": 0.3441,
                                 "probability": 0.4986},
                        "away": {"won": 0.3441, "half_won": 0.2095, "push": 0.0, "half_lost": 0.0, "lost": 0.4464,
                                 "probability": 0.5014}}],
    "double_chance": None,
    "draw_no_bet": None,
    "correct_score": None,
}  # fmt: skip
