"""NFL spread and total distributions (issue 18 item 2): the pricing identities, the key numbers learnt from real
games, no look-ahead, and the evaluation and its CLI on nflverse's file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.modeling.nfl_line_eval import (
    CLOSE,
    evaluate_nfl_lines,
    load_nfl_games,
    nfl_distributions,
)
from betpipe.modeling.nfl_lines import (
    MARGIN_FIRST,
    MARGIN_SIZE,
    LineDistribution,
    key_number_distribution,
    walk_forward_means,
)


def _random_distribution(n: int = 50, seed: int = 3) -> LineDistribution:
    rng = np.random.default_rng(seed)
    pmf = rng.gamma(0.7, size=(n, MARGIN_SIZE))
    return LineDistribution(pmf / pmf.sum(axis=1, keepdims=True), MARGIN_FIRST)


@pytest.mark.parametrize("line", [-10.0, -7.0, -3.5, -3.0, 0.0, 0.5, 3.0, 6.5, 14.0])
def test_spread_grades_sum_to_one_and_mirror_the_other_side(line: float) -> None:
    dist = _random_distribution()
    home, away = dist.spread(line, "home"), dist.spread(line, "away")
    total = home.won + home.void + home.lost
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    np.testing.assert_allclose(home.won, away.lost, atol=1e-12)
    np.testing.assert_allclose(home.lost, away.won, atol=1e-12)
    np.testing.assert_allclose(home.void, away.void, atol=1e-12)
    assert not home.half_won.any()
    assert not home.half_lost.any()
    margins = dist.values
    # from first principles: home covers at handicap `line` when margin + line > 0
    np.testing.assert_allclose(home.won, dist.pmf[:, margins + line > 0].sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(home.lost, dist.pmf[:, margins + line < 0].sum(axis=1), atol=1e-12)


def test_a_whole_line_pushes_with_the_mass_at_that_margin_and_a_half_line_never() -> None:
    dist = _random_distribution()
    column = 3 - MARGIN_FIRST  # home favoured by 3: handicap -3 pushes when the margin is exactly 3
    np.testing.assert_allclose(dist.spread(-3.0).void, dist.pmf[:, column], atol=1e-15)
    np.testing.assert_allclose(dist.mass_at(3), dist.pmf[:, column], atol=1e-15)
    assert not dist.spread(-3.5).void.any()
    assert not dist.total(44.5).void.any()
    np.testing.assert_allclose(dist.total(-7.0).void, dist.pmf[:, -7 - MARGIN_FIRST], atol=1e-15)


def test_over_and_under_mirror_each_other_and_lines_may_differ_per_game() -> None:
    dist = _random_distribution(n=4)
    lines = np.array([1.0, 2.5, -3.0, 7.5])
    over, under = dist.total(lines, "over"), dist.total(lines, "under")
    np.testing.assert_allclose(over.won, under.lost, atol=1e-12)
    np.testing.assert_allclose(over.won + over.void + over.lost, 1.0, atol=1e-12)
    for i, line in enumerate(lines):
        assert over.won[i] == pytest.approx(dist.pmf[i, dist.values > line].sum(), abs=1e-12)


def test_a_quarter_line_or_an_unknown_side_is_refused() -> None:
    dist = _random_distribution(n=2)
    with pytest.raises(ValueError, match="not a whole or half point"):
        dist.spread(-2.75)
    with pytest.raises(ValueError, match="selection"):
        dist.total(44.5, "draw")


def _league(n_weeks: int = 30, seed: int = 0) -> dict[str, np.ndarray]:
    """A synthetic league: 8 teams, 4 games a week, each game's result known 4 hours after kickoff."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 5, size=8)
    home, away, kick = [], [], []
    for week in range(n_weeks):
        pairs = rng.permutation(8).reshape(4, 2)
        for g, (h, a) in enumerate(pairs):
            home.append(h)
            away.append(a)
            kick.append(week * 7 * 86_400.0 + g * 3 * 3_600.0)
    h, a = np.array(home), np.array(away)
    hs = np.round(np.clip(21 + strength[h] + rng.normal(0, 9, h.size), 0, None))
    as_ = np.round(np.clip(20 + strength[a] + rng.normal(0, 9, h.size), 0, None))
    k = np.array(kick)
    return {"home": h, "away": a, "hs": hs, "as": as_, "kick": k, "known": k + 4 * 3_600.0, "season": k // 1e7}


def _priced(games: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    margin, total = walk_forward_means(
        games["home"], games["away"], games["season"], games["hs"], games["as"], games["kick"], games["known"]
    )
    dist = key_number_distribution(
        margin, games["hs"] - games["as"], games["kick"], games["known"], first=-90, size=181, symmetric=True
    )
    return margin, total, dist.pmf


def test_a_planted_future_result_moves_nothing_priced_before_it_is_known() -> None:
    """The leak this prevents: ratings, sigma or the key-number shape of an earlier game reading a later result."""
    games = _league()
    before = _priced(games)
    planted = {k: v.copy() for k, v in games.items()}
    j = 61  # week 15, the second game of the day: two games of that day kick off before its result is known
    planted["hs"][j] += 35.0
    after = _priced(planted)
    earlier = games["kick"] < games["known"][j]
    later = ~earlier
    assert earlier.sum() > j  # games of the same day kicking off before the result is known count as earlier
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(b[earlier], a[earlier])
        assert not np.allclose(b[later], a[later])  # the planted result does reach later games


def test_an_unplayed_game_is_priced_and_teaches_nothing() -> None:
    games = _league(n_weeks=6)
    games["hs"][-4:] = np.nan
    games["as"][-4:] = np.nan
    margin, total, pmf = _priced(games)
    assert np.isfinite(margin).all()
    assert np.isfinite(total).all()
    np.testing.assert_allclose(pmf[-4:].sum(axis=1), 1.0)


# ---------------------------------------------------------------- on nflverse's file


@pytest.fixture(scope="module")
def games(shared_data: Path) -> pl.DataFrame:
    path = shared_data / "nflverse" / "games.csv"
    if not path.exists():
        pytest.skip(f"nflverse games file not found at {path}")
    return load_nfl_games(path)


def test_nflverse_spread_line_is_the_home_sides_expected_margin(games: pl.DataFrame) -> None:
    """nflverse's sign: positive spread_line = home favoured; the close-centred mean follows it, not its negative."""
    played = games.drop_nulls(["home_score", "spread_line"])
    margin = (played["home_score"] - played["away_score"]).cast(pl.Float64).to_numpy()
    line = played["spread_line"].to_numpy()
    assert np.corrcoef(margin, line)[0, 1] > 0.35
    assert abs(float((margin - line).mean())) < 1.0


def test_trained_on_real_games_the_margin_piles_on_3_and_7_and_the_total_on_41_and_44(games: pl.DataFrame) -> None:
    dists = nfl_distributions(games.filter(pl.col("season") <= 2012))
    margin = dists["close_margin"].pmf[-1]  # shaped by 1999-2012 games, centred on the last game's line
    total = dists["close_total"]
    normal = dists["close_margin_normal"].pmf[-1]
    last = games.filter(pl.col("season") <= 2012).row(-1, named=True)
    assert abs(last["spread_line"]) < 8  # the neighbours compared below are on the same side of the mean
    for key in (3, 7, -3, -7):
        at = key - MARGIN_FIRST
        assert margin[at] > margin[at - 1], key
        assert margin[at] > margin[at + 1], key
    assert margin[3 - MARGIN_FIRST] > 1.8 * normal[3 - MARGIN_FIRST]
    rows = np.flatnonzero((games.filter(pl.col("season") <= 2012)["total_line"] == 44.0).to_numpy())
    pmf = total.pmf[rows[-1]]
    for key in (41, 44):
        assert pmf[key] > pmf[key - 1], key
        assert pmf[key] > pmf[key + 1], key


def test_on_the_shared_file_the_close_is_a_coin_flip_and_the_ratings_are_behind_it(games: pl.DataFrame) -> None:
    """Rows and pushes pinned (a loader or sign that drifted moves them); every predictor on the same rows."""
    result = evaluate_nfl_lines(games)
    spread, total = result.tables["nfl_spread"], result.tables["nfl_total"]
    assert spread["rows"].unique().to_list() == [4_326]
    assert total["rows"].unique().to_list() == [4_368]
    assert any("114 pushes" in note for note in result.notes)
    for table in (spread, total):
        close = table.filter(pl.col("model") == CLOSE).row(0, named=True)
        assert close["brier"] == pytest.approx(0.2501, abs=0.0002)
        ratings = table.filter(pl.col("model") == "ratings").row(0, named=True)
        assert ratings["d_brier_low"] > 0  # the walk-forward ratings are behind the close, and the CI says so
    moneyline = result.tables["nfl_moneyline"]  # ../shared/EVALUATION.md's NFL rows and reference figures
    assert moneyline["rows"].unique().to_list() == [4_427]
    close = moneyline.filter(pl.col("model") == CLOSE).row(0, named=True)
    assert close["brier"] == pytest.approx(0.2113, abs=0.0002)
    assert close["log_loss"] == pytest.approx(0.610, abs=0.0005)
    push3 = result.pushes.filter(pl.col("lines") == "spread ±3").row(0, named=True)
    assert push3["observed_low"] <= push3["close_centred"] <= push3["observed_high"]
    assert push3["close_centred_normal"] < push3["observed_low"]  # a plain normal misses the key number


def test_the_cli_prints_one_table_per_market_on_a_slice_of_the_real_file(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from betpipe.cli import app

    source = shared_data / "nflverse" / "games.csv"
    if not source.exists():
        pytest.skip(f"nflverse games file not found at {source}")
    raw = pl.read_csv(source, infer_schema_length=0)
    sliced = tmp_path / "games.csv"
    raw.filter(pl.col("season").cast(pl.Int64).is_between(2003, 2008)).write_csv(sliced)
    out = tmp_path / "nfl.md"
    args = ["evaluate-markets", "--sport", "american_football", "--data", str(sliced), "--markdown", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for market in ("nfl_spread", "nfl_total", "nfl_moneyline"):
        block = text.split(f"**{market}**")[1].split("\n\n")[1].splitlines()
        assert block[0].startswith("| model | Brier | log loss | Δ Brier vs close")
        models = [line.split("|")[1].strip() for line in block[2:]]
        assert models == [
            CLOSE,
            "close_shin",
            "even_0.5",
            "ratings",
            "ratings_normal",
            "close_centred",
            "close_centred_normal",
        ]
    assert "| spread ±3 |" in text
    assert "| total 44 |" in text
    assert "games scored (2006-2008)" in text
    assert "Traceback" not in result.output


def test_cli_nfl_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from betpipe.cli import app

    base = ["evaluate-markets", "--sport", "american_football", "--data"]
    missing = CliRunner().invoke(app, [*base, str(tmp_path)])
    assert missing.exit_code == 1
    assert "is not an nflverse games file" in missing.output
    season = CliRunner().invoke(app, [*base, str(tmp_path), "--first-season", "2006-2007"])
    assert season.exit_code == 1
    assert "an NFL season is a year" in season.output
    sport = CliRunner().invoke(app, ["evaluate-markets", "--sport", "cricket", "--data", str(tmp_path)])
    assert sport.exit_code == 1
    assert "unknown sport" in sport.output
    for r in (missing, season, sport):
        assert "Traceback" not in r.output
