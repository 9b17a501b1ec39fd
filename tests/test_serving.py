"""The prediction service on a real uvicorn server (127.0.0.1, free port) over a fresh sample-league store.

Each test runs on SQLite and, with BETPIPE_TEST_DATABASE_URL, on PostgreSQL. The clock is fixed just before the
sample league's scheduled matchdays, which lie in the past of the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from betpipe.clock import FixedClock
from betpipe.db.schema_registry import shadow_predictions
from betpipe.live.training import train_model
from betpipe.predict import ab_unit, predict_upcoming
from betpipe.registry import CHALLENGER, promote
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from fakes.serving_store import PROBLEM_KEYS, Store, fixture_query, make_store, wait_ready


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    built = make_store(database_url, tmp_path / "data")
    yield built
    built.engine.dispose()


def test_predictions_for_events_fixtures_and_batches_match_the_cli_function(store: Store) -> None:
    """The service and `betpipe predict` share one function: the same event gets the same numbers from both."""
    app = create_app(store.settings, clock=store.clock)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        ready = wait_ready(client)
        assert ready["sports"]["soccer"]["champion_version_id"] == store.champion_id  # type: ignore[index]
        event_id = store.scheduled[0]
        one = client.post("/predict", json={"event_id": event_id})
        assert one.status_code == 200, one.text
        body = one.json()
        assert body["event_id"] == event_id
        assert body["model_version_id"] == store.champion_id
        assert body["arm"] == "champion"
        assert set(body["probabilities"]) == {"home", "draw", "away"}
        assert sum(body["probabilities"].values()) == pytest.approx(1.0)

        fixture = client.post("/predict", json=fixture_query(store))
        assert fixture.status_code == 200, fixture.text
        assert fixture.json()["event_id"] is None
        assert fixture.json()["home_team"] == store.teams[0]

        queries = [{"event_id": e} for e in store.scheduled] + [
            fixture_query(store, home=i, away=i + 1) for i in range(6)
        ]
        queries.append({"event_id": store.finished})  # one bad item: its own problem, the rest still predicted
        batch = client.post("/predict/batch", json={"queries": queries})
        assert batch.status_code == 200, batch.text
        result = batch.json()
        assert result["predicted"] == len(queries) - 1
        assert result["failed"] == 1
        assert result["results"][-1]["problem"]["status"] == 404
        assert result["results"][0]["prediction"] == body

    cli = predict_upcoming(store.engine, store.settings, competition="SAMPLE", after=store.clock.now())
    assert cli["event_id"].to_list() == store.scheduled
    row = cli.filter(cli["event_id"] == event_id).row(0, named=True)
    assert [row["p_home"], row["p_draw"], row["p_away"]] == [body["probabilities"][k] for k in ("home", "draw", "away")]
    assert row["model_version_id"] == store.champion_id


def _check_problem(response: httpx.Response, status: int, slug: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status
    if slug is not None:
        assert body["type"] == f"urn:betpipe:problem:{slug}"


def test_every_bad_input_is_problem_json_with_its_status(store: Store) -> None:
    app = create_app(store.settings, clock=store.clock)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        _check_problem(client.post("/predict", json={"event_id": 999_999}), 404, "unknown-event")
        _check_problem(client.post("/predict", json={"event_id": store.finished}), 404, "unknown-event")
        unknown = {**fixture_query(store), "home_team": "Atlantis Athletic"}
        _check_problem(client.post("/predict", json=unknown), 422, "unknown-team")
        _check_problem(client.post("/predict", json=fixture_query(store, days=-2)), 422, "kickoff-in-past")
        _check_problem(client.post("/predict", json={**fixture_query(store), "competition": "ZZ"}), 422)
        same = fixture_query(store, home=2, away=2)
        _check_problem(client.post("/predict", json=same), 422, "same-team")
        naive = {**fixture_query(store), "kickoff": "2030-01-01T12:00:00"}
        _check_problem(client.post("/predict", json=naive), 422, "validation-error")
        not_json = client.post("/predict", content=b"{event_id: 1", headers={"content-type": "application/json"})
        _check_problem(not_json, 400, "invalid-json")
        _check_problem(client.post("/predict", json={"event_id": 1, "extra": True}), 422, "validation-error")
        _check_problem(client.post("/predict/batch", json={"queries": []}), 422, "validation-error")
        _check_problem(client.get("/no-such-route"), 404)
        _check_problem(client.delete("/predict"), 405)
        openapi = client.get("/openapi.json").json()
        assert {"/predict", "/predict/batch", "/models", "/health", "/ready", "/metrics"} <= set(openapi["paths"])


def test_event_kicked_off_after_start_is_refused_as_past(store: Store) -> None:
    later = FixedClock(store.clock.now() + timedelta(days=400))
    app = create_app(store.settings, clock=later)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        _check_problem(client.post("/predict", json={"event_id": store.scheduled[0]}), 422, "kickoff-in-past")


def test_models_and_metrics_report_what_is_served(store: Store) -> None:
    serving = store.settings.serving.model_copy(update={"read_token": SecretStr("scraper-token")})
    app = create_app(store.settings.model_copy(update={"serving": serving}), clock=store.clock)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        for event_id in store.scheduled[:3]:
            assert client.post("/predict", json={"event_id": event_id}).status_code == 200
        models = client.get("/models").json()["models"]
        assert [(m["id"], m["aliases"], m["serving"]) for m in models] == [
            (store.champion_id, ["champion"], "champion")
        ]
        assert client.get("/metrics").status_code == 401  # the ledger's gauges are on it
        text = client.get("/metrics", headers={"Authorization": "Bearer scraper-token"}).text
        assert (
            f'betpipe_predictions_total{{arm="champion",model_version_id="{store.champion_id}",sport="soccer"}} 3.0'
            in text
        )
        assert 'betpipe_http_requests_total{method="POST",route="/predict",status="200"} 3.0' in text
        assert 'betpipe_http_request_duration_seconds_bucket{le="0.005",route="/predict"}' in text


def test_hot_swap_under_load_fails_no_request_and_serves_the_new_champion(store: Store) -> None:
    app = create_app(store.settings, clock=store.clock)
    seen: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/predict", json={"event_id": store.scheduled[1]})
                version = response.json().get("model_version_id") if response.status_code == 200 else None
                seen.append((response.status_code, version))

    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client)
        worker = threading.Thread(target=hammer, args=(url,))
        worker.start()
        try:
            challenger = train_model(store.engine, sport="soccer", model="base_rates", settings=store.settings).version
            promote(store.engine, challenger.id, reason="hot swap test")
            deadline = time.monotonic() + 60  # generous: the poll interval is 0.2 s
            while not any(v == challenger.id for _, v in seen) and time.monotonic() < deadline:
                time.sleep(0.05)
            count = len(seen)
            while len(seen) < count + 20 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            worker.join()
        service = app.state.service
    assert seen
    assert {status for status, _ in seen} == {200}
    versions = [v for _, v in seen]
    first_new = versions.index(challenger.id)
    assert set(versions[:first_new]) == {store.champion_id}
    assert set(versions[first_new:]) == {challenger.id}  # the swap is atomic: never back to the old one
    assert service.state.cache.loads == 2  # each model loaded once, never per request


def test_ab_share_assigns_events_by_id_and_stores_every_served_prediction(database_url: str, tmp_path: Path) -> None:
    store = make_store(database_url, tmp_path / "data", ab_challenger_share=0.5)
    try:
        challenger = train_model(store.engine, sport="soccer", model="base_rates", settings=store.settings).version
        promote(store.engine, challenger.id, CHALLENGER, reason="A/B test")
        app = create_app(store.settings, clock=store.clock)
        with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            wait_ready(client)
            served = {}
            for _ in range(2):
                for event_id in store.scheduled:
                    body = client.post("/predict", json={"event_id": event_id}).json()
                    assert served.setdefault(event_id, (body["arm"], body["model_version_id"])) == (
                        body["arm"],
                        body["model_version_id"],
                    )
        expected = ab_unit(np.array(store.scheduled, dtype=np.int64)) < 0.5
        assert [served[e][0] == "challenger" for e in store.scheduled] == expected.tolist()
        assert {served[e][1] for e in store.scheduled} == {store.champion_id, challenger.id}  # both arms in use
        with store.engine.connect() as conn:  # the writer flushed on shutdown
            stored = dict(conn.execute(select(shadow_predictions.c.event_id, shadow_predictions.c.version_id)).all())
        assert stored == {e: served[e][1] for e in store.scheduled}
    finally:
        store.engine.dispose()


def test_ab_unit_is_deterministic_and_uniform() -> None:
    ids = np.arange(1, 20_001, dtype=np.int64)
    units = ab_unit(ids)
    assert np.array_equal(units, ab_unit(ids.copy()))
    assert ((units >= 0) & (units < 1)).all()
    assert abs(float((units < 0.3).mean()) - 0.3) < 0.02
