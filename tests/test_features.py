"""Feature definitions and their arithmetic: versions, Elo, form windows, schedule and market rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from betpipe.features import Elo, Form, Market, default_feature_set, feature_set_version, list_definitions
from betpipe.features.asof import AsOfIndex, training_frame
from betpipe.features.compute import compute_tables
from betpipe.features.definitions import Schedule
from betpipe.features.market import single_event_market
from betpipe.features.source import EVENT_COLUMNS, QUOTE_SCHEMA

T0 = datetime(2021, 8, 1, 15, tzinfo=UTC)


def games(rows: Sequence[tuple[int, int, int | None, int | None, float]], season: str = "2021-2022") -> pl.DataFrame:
    """Events frame from (home, away, home goals, away goals, days after T0) tuples."""
    data = [
        {
            "event_id": i + 1,
            "sport": "soccer",
            "competition": "X",
            "season": season if not isinstance(season, list) else season[i],
            "kickoff_utc": T0 + timedelta(days=days),
            "home_team_id": h,
            "away_team_id": a,
            "neutral_site": False,
            "status": "finished" if hs is not None else "scheduled",
            "home_score": hs,
            "away_score": as_,
        }
        for i, (h, a, hs, as_, days) in enumerate(rows)
    ]
    frame = pl.DataFrame(data)
    return frame.with_columns([pl.lit(None).alias(c) for c in EVENT_COLUMNS if c not in frame.columns]).select(
        [pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()]
    )


NO_QUOTES = pl.DataFrame(schema=QUOTE_SCHEMA)


def matrix(events: pl.DataFrame, quotes: pl.DataFrame = NO_QUOTES, definitions: tuple = ()) -> pl.DataFrame:  # type: ignore[type-arg]
    tables = compute_tables(events, quotes, "soccer", definitions or default_feature_set("soccer"))
    result: pl.DataFrame = training_frame(AsOfIndex.build(tables))
    return result


def test_version_changes_with_parameters_and_is_stable_otherwise() -> None:
    """A changed K factor must not share a version (and so stored values) with the default."""
    assert Elo().version == Elo().version
    assert Elo(k=30.0).version != Elo().version
    assert Form(windows=(3,)).version != Form().version
    soccer = default_feature_set("soccer")
    assert feature_set_version(soccer) != feature_set_version((replace(soccer[0], k=21.0), *soccer[1:]))


def test_list_definitions_names_every_definition_with_its_version() -> None:
    rows = list_definitions()
    assert {r["name"] for r in rows} == {"elo", "form", "schedule", "market"}
    assert all(len(r["version"]) == 12 and r["parameters"] for r in rows)


def test_elo_known_values_after_one_game_and_home_advantage() -> None:
    """1-0 home win between equals with no home advantage: +10 / -10 at K=20 (goal multiplier 1)."""
    elo = Elo(home_advantage=0.0)
    defs = (elo, Form(), Schedule(), Market())
    m = matrix(games([(1, 2, 1, 0, 0), (1, 2, None, None, 7)]), definitions=defs)
    second = m.row(1, named=True)
    assert second["f_elo_home"] == pytest.approx(1510.0)
    assert second["f_elo_away"] == pytest.approx(1490.0)
    assert second["f_elo_p_home"] == pytest.approx(1 / (1 + 10 ** (-20 / 400)))
    first = m.row(0, named=True)
    assert first["f_elo_diff"] == 0.0
    assert first["f_elo_p_win_home"] + first["f_elo_p_draw"] + first["f_elo_p_win_away"] == pytest.approx(1.0)


def test_elo_regresses_toward_the_mean_when_a_new_season_starts() -> None:
    seasons = ["2020-2021", "2021-2022"]
    events = games([(1, 2, 3, 0, 0), (1, 2, None, None, 300)], season=seasons)  # type: ignore[arg-type]
    m = matrix(events)
    rating_after = m.row(0, named=True)["f_elo_home"] + 20 * 1.75 * (1 - 1 / (1 + 10 ** (-65 / 400)))
    expected = 1500 + 0.8 * (rating_after - 1500)
    assert m.row(1, named=True)["f_elo_home"] == pytest.approx(expected)


def test_rolling_form_uses_exactly_the_last_n_games_before_kickoff() -> None:
    """Team 1 scores 0,1,...,6 in seven games; at game 8 the 5-game mean is mean(2..6) = 4, the 10-game 3."""
    rows = [(1, 2 + i % 2, i, 0, 7 * i) for i in range(7)] + [(1, 2, None, None, 49)]
    m = matrix(games(rows))
    last = m.row(-1, named=True)
    assert last["f_form_gf_r5_home"] == 4.0
    assert last["f_form_gf_r10_home"] == 3.0
    assert last["f_form_gf_v5_home"] == 4.0  # every game was at home
    assert last["f_form_pts_r5_home"] == 3.0  # five wins; the 0-0 draw of game 1 is out of the window
    assert last["f_form_pts_r10_home"] == pytest.approx((1 + 3 * 6) / 7)
    weights = (1 - 2 / 6) ** np.arange(7)[::-1]  # span 5: alpha = 2 / (5 + 1), newest game weight 1
    assert last["f_form_gf_e5_home"] == pytest.approx(float((weights * np.arange(7)).sum() / weights.sum()))
    assert m.row(0, named=True)["f_form_gf_r5_home"] is None


def test_schedule_counts_rest_days_and_recent_games() -> None:
    rows = [(1, 2, 1, 0, 0), (3, 1, 1, 1, 3), (1, 4, None, None, 5)]
    last = matrix(games(rows)).row(-1, named=True)
    assert last["f_rest_days_home"] == 2.0
    assert last["f_short_rest_home"] == 1.0
    assert last["f_games_7d_home"] == 2.0
    assert last["f_rest_days_away"] is None  # team 4's first game


def quote(
    event_id: int, book: str, kind: str, hours_before: float, prices: tuple[float, float, float], *, agg: bool = False
) -> dict:  # type: ignore[type-arg]
    return {
        "event_id": event_id,
        "bookmaker": book,
        "is_aggregate": agg,
        "market": "1x2",
        "kind": kind,
        "captured_at": T0 + timedelta(days=7) - timedelta(hours=hours_before),
        "home": prices[0],
        "draw": prices[1],
        "away": prices[2],
        "line": 0.0,
    }


def test_market_averages_shin_probabilities_of_executable_books_only() -> None:
    events = games([(1, 2, 1, 0, 0), (1, 2, None, None, 7)])
    quotes = pl.DataFrame(
        [
            quote(2, "pinnacle", "opening", 30, (2.0, 3.5, 4.0)),
            quote(2, "bet365", "opening", 20, (1.9, 3.4, 3.8)),
            quote(2, "market_max", "opening", 20, (9.0, 9.0, 9.0), agg=True),
            quote(2, "pinnacle", "closing", 0, (1.5, 4.0, 7.0)),
            quote(2, "pinnacle", "opening", -1, (1.1, 9.0, 20.0)),  # after kickoff
        ]
    ).select([pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()])
    row = matrix(events, quotes).row(-1, named=True)
    from betpipe.odds import remove_margin

    fair = remove_margin(np.array([[2.0, 3.5, 4.0], [1.9, 3.4, 3.8]]), "shin").mean(axis=0)
    assert row["f_market_p_home"] == pytest.approx(fair[0] / fair.sum(), rel=1e-12)
    assert row["f_market_n_books"] == 2.0
    assert row["f_market_age_hours"] == pytest.approx(20.0)
    assert row["bench_ps_close_home"] == 1.5
    assert row["bench_ps_open_home"] == 2.0  # the same time rule as the features: the after-kickoff quote is out
    rows = [
        (r["bookmaker"], r["is_aggregate"], r["market"], r["kind"], r["captured_at"], r["home"], r["draw"], r["away"])
        for r in quotes.iter_rows(named=True)
    ]
    values, known = single_event_market(rows, T0 + timedelta(days=7), T0 + timedelta(days=7), Market(), True)
    assert values["f_market_p_home"] == pytest.approx(row["f_market_p_home"], rel=1e-12)
    assert known == T0 + timedelta(days=7, hours=-20)
    early, known = single_event_market(rows, T0 + timedelta(days=7, hours=-25), T0 + timedelta(days=7), Market(), True)
    assert early["f_market_n_books"] == 1.0
    assert known == T0 + timedelta(days=7, hours=-30)


@pytest.mark.parametrize("n", [50, 20_000])
def test_timeline_finds_the_last_entry_strictly_before_with_the_event_id_tie_breaker(n: int) -> None:
    """Both the small path and the sorted-needle path of big batches agree with a brute-force answer."""
    from betpipe.features.timeline import Timeline, query_order

    rng = np.random.default_rng(n)
    group = rng.integers(0, 7, n).astype(np.int64)
    ms = rng.integers(0, 40, n).astype(np.int64) * 1000  # many equal instants: the tie-breaker matters
    event_id = rng.permutation(n).astype(np.int64)
    timeline = Timeline.build(group, ms, event_id)
    q_group = rng.integers(0, 8, n).astype(np.int64)  # group 7 has no entries at all
    q_ms = rng.integers(0, 42, n).astype(np.int64) * 1000
    found = timeline.last_before(q_group, q_ms)
    counted = timeline.count_between(q_group, q_ms - 5000, q_ms, query_order(q_group, q_ms) if n > 4096 else None)
    for i in rng.choice(n, 50, replace=False):
        assert counted[i] == np.sum((group == q_group[i]) & (ms >= q_ms[i] - 5000) & (ms < q_ms[i]))
        candidates = np.flatnonzero((group == q_group[i]) & (ms < q_ms[i]))
        if candidates.size == 0:
            assert found[i] == -1
        else:
            latest = candidates[ms[candidates] == ms[candidates].max()]
            assert found[i] == latest[np.argmax(event_id[latest])]


def test_big_batch_gather_matches_row_by_row_reads() -> None:
    from betpipe.features.asof import _gather

    rng = np.random.default_rng(0)
    values = pl.DataFrame({"a": rng.normal(size=9000), "b": pl.Series([None] * 9000, dtype=pl.Float64)})
    rows = rng.integers(-1, 9000, 10_000).astype(np.int64)
    a, b = _gather(values, rows, "home")
    expected = [None if r < 0 else values["a"][int(r)] for r in rows]
    assert a.name == "f_form_a_home"
    assert a.to_list() == expected
    assert b.null_count() == 10_000


@pytest.mark.parametrize("requote", [False, True])
def test_market_snapshots_carry_each_books_latest_quote_forward(requote: bool) -> None:
    """At each instant a price changed, the snapshot averages every book's latest quote so far (both paths)."""
    from betpipe.features.market import market_snapshots
    from betpipe.odds import remove_margin

    pin1, b365, pin2 = (2.0, 3.5, 4.0), (1.9, 3.4, 3.8), (2.2, 3.3, 3.5)
    rows = [quote(2, "pinnacle", "opening", 30, pin1), quote(2, "bet365", "opening", 20, b365)]
    if requote:
        rows.append(quote(2, "pinnacle", "live", 10, pin2))
    quotes = pl.DataFrame(rows).select([pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()])
    kickoffs = pl.DataFrame({"event_id": [2], "kickoff_utc": [T0 + timedelta(days=7)]}).with_columns(
        pl.col("kickoff_utc").dt.cast_time_unit("us")
    )
    snaps = market_snapshots(quotes, kickoffs, Market()).snapshots

    def expected(*books: tuple[float, float, float]) -> float:
        fair = remove_margin(np.array(books), "shin").mean(axis=0)
        return float(fair[0] / fair.sum())

    assert snaps["f_market_n_books"].to_list() == ([1.0, 2.0, 2.0] if requote else [1.0, 2.0])
    assert snaps["f_market_p_home"][0] == pytest.approx(expected(pin1), rel=1e-12)
    assert snaps["f_market_p_home"][1] == pytest.approx(expected(pin1, b365), rel=1e-12)
    if requote:
        assert snaps["f_market_p_home"][2] == pytest.approx(expected(pin2, b365), rel=1e-12)
