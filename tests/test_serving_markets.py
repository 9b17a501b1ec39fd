"""/predict returns every soccer market from one score grid (issue 18 item 3), on a real server over the sample league.

Each answer's ``markets`` must be coherent with its own grid: the grid rebuilt from the parameters it reports prices
every line exactly as listed, the 1X2 equals the champion's probabilities (the fit reproduces them), each selection's
five settlement grades sum to 1 and the two sides of a line are one two-way market. And the poller stops with the
app: nothing polls a store that is gone (the CI log line "serving refresh failed: no such table: model_aliases").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from betpipe.modeling.score_grid import ScoreGrid, dixon_coles_grid
from betpipe.predict.markets import HANDICAP_LINES, TOTAL_LINES
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from fakes.serving_store import Store, fixture_query, make_store, wait_ready

GRADES = ("won", "half_won", "push", "half_lost", "lost")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    built = make_store(f"sqlite:///{tmp_path}/betpipe.sqlite", tmp_path / "data")
    yield built
    built.engine.dispose()


def _grid(markets: dict[str, Any]) -> ScoreGrid:
    g = markets["grid"]
    return dixon_coles_grid([g["home_goals"]], [g["away_goals"]], [g["rho"]], max_goals=10)


def _check_line(side: dict[str, float], expected: Any) -> None:
    """One selection against the grid's own grades (``LineProbabilities``), and its grades summing to one."""
    got = [side[k] for k in GRADES]
    want = [expected.won[0], expected.half_won[0], expected.void[0], expected.half_lost[0], expected.lost[0]]
    assert got == pytest.approx(want, abs=1e-12)
    assert sum(got) == pytest.approx(1.0, abs=1e-12)
    assert side["probability"] == pytest.approx(expected.no_push_probability[0], abs=1e-12)


def _check_coherent(body: dict[str, Any], depth: str) -> dict[str, Any]:
    markets: dict[str, Any] = body["markets"]
    assert markets["depth"] == depth
    grid = _grid(markets)
    p = body["probabilities"]
    one = markets["one_x_two"]
    for k in ("home", "draw", "away"):  # the fit reproduces the champion's 1X2
        assert abs(one[k] - p[k]) < 1e-9, (k, one[k], p[k])
    assert [one["home"], one["draw"], one["away"]] == pytest.approx(grid.one_x_two()[0].tolist(), abs=1e-12)
    assert markets["btts"]["yes"] == pytest.approx(grid.btts()[0], abs=1e-12)
    assert markets["btts"]["yes"] + markets["btts"]["no"] == pytest.approx(1.0, abs=1e-12)
    for entry in markets["totals"]:
        _check_line(entry["over"], grid.totals(entry["line"], "over"))
        _check_line(entry["under"], grid.totals(entry["line"], "under"))
        assert entry["over"]["probability"] + entry["under"]["probability"] == pytest.approx(1.0, abs=1e-12)
    for entry in markets["asian_handicap"]:
        _check_line(entry["home"], grid.asian_handicap(entry["line"], "home"))
        _check_line(entry["away"], grid.asian_handicap(entry["line"], "away"))
        assert entry["home"]["won"] == pytest.approx(entry["away"]["lost"], abs=1e-12)  # one market, two sides
        assert entry["home"]["half_won"] == pytest.approx(entry["away"]["half_lost"], abs=1e-12)
    anchor = markets["grid"]["total_anchor"]
    assert (markets["grid"]["anchor_p_over"] is None) == (anchor == "none")
    if anchor != "none":  # anchored and 1X2 met: the grid's O/U 2.5 is the anchor too (three prices, three unknowns)
        over = grid.totals(2.5).no_push_probability[0]
        assert over == pytest.approx(markets["grid"]["anchor_p_over"], abs=1e-8)
    return markets


def _sharp_over(store: Store, event_id: int) -> float | None:
    """The sample sharp book's latest pre-match O/U 2.5 known at the clock, margin-free: read apart from the code."""
    now = store.clock.now().astimezone(UTC).replace(tzinfo=None)
    query = text(
        "SELECT o.selection, o.price FROM odds_snapshots o JOIN bookmakers b ON b.id = o.bookmaker_id "
        "JOIN events e ON e.id = o.event_id WHERE o.event_id = :e AND o.market = 'total' AND o.line = 2.5 "
        "AND b.key = 'sample_sharp' AND o.kind IN ('opening', 'live') AND o.captured_at <= :now "
        "AND o.captured_at < e.kickoff_utc ORDER BY o.captured_at, o.id"
    )
    with store.engine.connect() as conn:
        latest = {str(s): float(p) for s, p in conn.execute(query, {"e": event_id, "now": now})}
    if set(latest) != {"over", "under"}:
        return None
    q_over, q_under = 1 / latest["over"], 1 / latest["under"]
    return q_over / (q_over + q_under)


def test_every_market_of_an_event_is_coherent_with_its_grid(store: Store) -> None:
    app = create_app(store.settings, clock=store.clock)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        anchors = set()
        for event_id in store.scheduled:
            main = client.post("/predict", json={"event_id": event_id})
            assert main.status_code == 200, main.text
            markets = _check_coherent(main.json(), "main")
            assert [t["line"] for t in markets["totals"]] == [2.5]
            assert [a["line"] for a in markets["asian_handicap"]] == [markets["asian_handicap_main_line"]]
            assert markets["double_chance"] is None
            assert markets["correct_score"] is None
            sharp = _sharp_over(store, event_id)
            anchors.add(markets["grid"]["total_anchor"])
            if markets["grid"]["total_anchor"] == "sharp_ou_2.5":
                assert sharp is not None
                assert markets["grid"]["anchor_p_over"] == pytest.approx(sharp, abs=1e-12)

            full = client.post("/predict", json={"event_id": event_id, "markets": "all"})
            assert full.status_code == 200, full.text
            every = _check_coherent(full.json(), "all")
            assert [t["line"] for t in every["totals"]] == list(TOTAL_LINES)
            assert [a["line"] for a in every["asian_handicap"]] == list(HANDICAP_LINES)
            assert every["grid"] == markets["grid"]  # one grid per event, whatever the depth
            nearest = min(every["asian_handicap"], key=lambda a: (abs(a["home"]["probability"] - 0.5), abs(a["line"])))
            assert markets["asian_handicap_main_line"] == nearest["line"]
            one = every["one_x_two"]
            dc, dnb = every["double_chance"], every["draw_no_bet"]
            assert dc["home_draw"] == pytest.approx(one["home"] + one["draw"], abs=1e-12)
            assert dc["home_away"] == pytest.approx(one["home"] + one["away"], abs=1e-12)
            assert dnb["home"] == pytest.approx(one["home"] / (one["home"] + one["away"]), abs=1e-12)
            level = next(a for a in every["asian_handicap"] if a["line"] == 0.0)
            assert dnb["home"] == pytest.approx(level["home"]["probability"], abs=1e-12)  # DNB is AH 0
            scores = every["correct_score"]
            assert len(scores["scores"]) == 36
            assert sum(s["probability"] for s in scores["scores"]) + scores["other"] == pytest.approx(1.0, abs=1e-9)
            draws = sum(s["probability"] for s in scores["scores"] if s["home"] == s["away"])
            assert draws <= one["draw"] + 1e-12
        # the sample league's sharp book prices O/U 2.5 of the first matchday before the clock; the rest take the rate
        assert {"sharp_ou_2.5", "competition_ou_2.5_rate"} <= anchors, anchors

        fixture = client.post("/predict", json={**fixture_query(store), "markets": "all"})
        assert fixture.status_code == 200, fixture.text
        markets = _check_coherent(fixture.json(), "all")
        assert markets["grid"]["total_anchor"] in {"competition_ou_2.5_rate", "none"}

        queries: list[dict[str, Any]] = [
            {"event_id": store.scheduled[0], "markets": "all"},
            fixture_query(store),
            {**fixture_query(store, home=3, away=4), "markets": "main"},
            {"event_id": store.scheduled[1], "markets": "none"},
        ]
        batch = client.post("/predict/batch", json={"queries": queries}).json()
        assert batch["predicted"] == 4
        assert batch["results"][0]["prediction"]["markets"]["depth"] == "all"
        assert batch["results"][1]["prediction"]["markets"] is None  # a fixture's markets are fitted on request only
        _check_coherent(batch["results"][2]["prediction"], "main")
        assert batch["results"][3]["prediction"]["markets"] is None
        bad = client.post("/predict", json={"event_id": store.scheduled[0], "markets": "everything"})
        assert bad.status_code == 422


def test_a_fixture_is_anchored_on_its_competitions_base_rate(store: Store) -> None:
    """No stored price for a fixture: its total comes from the share of 3+ goal matches among the competition's
    last 380 finished ones (the sample league has fewer, all of them count), recomputed here from the results."""
    query = text("SELECT home_score + away_score FROM results r JOIN events e ON e.id = r.event_id")
    with store.engine.connect() as conn:
        totals = [int(t) for (t,) in conn.execute(query) if t is not None]
    app = create_app(store.settings, clock=store.clock)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        body = client.post("/predict", json={**fixture_query(store, home=2, away=5), "markets": "main"}).json()
    grid = body["markets"]["grid"]
    rate = float(np.mean([t >= 3 for t in totals[-380:]]))
    assert grid["total_anchor"] == "competition_ou_2.5_rate"
    assert grid["anchor_p_over"] == pytest.approx(rate, abs=1e-12)


def test_the_poller_stops_when_the_app_shuts_down(store: Store, capfd: pytest.CaptureFixture[str]) -> None:
    """The lifespan stops the alias poller and waits for it: once the server is gone nothing polls, so a store torn
    down after the test (here: its tables dropped) is never polled and nothing says "serving refresh failed"."""
    app = create_app(store.settings, clock=store.clock)
    state = app.state.serving_state
    assert not state.polling
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        assert state.polling
    assert not state.polling
    polls = state.health.polls
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE model_aliases"))
    time.sleep(5 * store.settings.serving.alias_poll_seconds)  # several poll intervals: a live poller would fail
    assert state.health.polls == polls
    assert "serving refresh failed" not in capfd.readouterr().err


def test_a_store_that_stays_broken_is_reported_once_not_every_poll(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An empty SQLite file (no tables: what the body-cap tests serve) fails every poll the same way; the warning is
    written once, /ready says why, and the poller still stops with the app."""
    from betpipe.config import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}",
        serving={"alias_poll_seconds": 0.05},  # type: ignore[arg-type]
    )
    app = create_app(settings)
    state = app.state.serving_state
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while state.health.refresh_error is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # ten more polls, each failing
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "model_aliases" in ready.json()["detail"]
    assert not state.polling
    assert capfd.readouterr().err.count("serving refresh failed") == 1
