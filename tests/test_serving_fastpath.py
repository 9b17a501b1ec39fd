"""The one-event hot path (``serving.fastpath``, ``serving.answers``) answers exactly what the FastAPI route answers.

Two apps on one store, one with the fast path and one without (every request through the router), on real uvicorn
servers: every scheduled event at every ``markets`` depth, both A/B arms, events kicked off, unknown ids, bodies the
route coerces or refuses, and batches must come back with the same status, headers and bytes. The fast path must
actually take the plain one-event queries (the route's ``service.snapshot`` is not called for them) and leave every
other query to the route. And an encoded answer is what encoding its JSON again gives: nothing was spliced wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from betpipe.clock import FixedClock
from betpipe.db.schema import events
from betpipe.live.training import train_model
from betpipe.registry import CHALLENGER, promote
from betpipe.serving import create_app
from betpipe.serving.answers import batch_body, encode
from betpipe.serving.fastpath import _event_query
from betpipe.serving.server import background_server
from fakes.serving_store import Store, fixture_query, make_store, wait_ready

VOLATILE_HEADERS = {"date", "server"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store with a champion and a challenger on half the events; the clock just after the first kickoff."""
    root = tmp_path_factory.mktemp("fastpath")
    built = make_store(f"sqlite:///{root}/betpipe.sqlite", root / "data", ab_challenger_share=0.5)
    challenger = train_model(built.engine, sport="soccer", model="base_rates", settings=built.settings).version
    promote(built.engine, challenger.id, CHALLENGER, reason="A/B for the fast path")
    with built.engine.connect() as conn:
        kickoffs = sorted(
            k if k.tzinfo else k.replace(tzinfo=UTC)
            for k in conn.execute(select(events.c.kickoff_utc).where(events.c.status == "scheduled")).scalars()
        )
    assert kickoffs[0] < kickoffs[-1]
    yield Store(
        built.settings,
        built.engine,
        FixedClock(kickoffs[0] + timedelta(minutes=1)),  # the first matchday kicked off, the rest to come
        built.scheduled,
        built.finished,
        built.teams,
        built.champion_id,
    )
    built.engine.dispose()


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k.lower(), v) for k, v in response.headers.multi_items() if k.lower() not in VOLATILE_HEADERS]
    return response.status_code, headers, response.content


def _queries(store: Store) -> list[Any]:
    """Bodies of POST /predict: plain event queries (the fast path's) and every near miss (the route's)."""
    plain: list[Any] = []
    for event_id in [*store.scheduled, 999_999, store.finished]:
        plain += [{"event_id": event_id}, *({"event_id": event_id, "markets": m} for m in ("none", "main", "all"))]
    first = store.scheduled[-1]
    near = [
        {"event_id": str(first)}, {"event_id": True}, {"event_id": float(first)}, {"event_id": 0},
        {"event_id": 2**63}, {"event_id": first, "markets": "MAIN"}, {"event_id": first, "markets": None},
        {"event_id": first, "extra": 1}, {"markets": "all"}, [first], first, {},
        fixture_query(store), {**fixture_query(store), "markets": "all"},
    ]  # fmt: skip
    return plain + near


def test_the_fast_path_answers_what_the_route_answers_byte_for_byte(store: Store) -> None:
    fast_app = create_app(store.settings, clock=store.clock)
    slow_app = create_app(store.settings, clock=store.clock, fast_path=False)
    route_calls: list[int] = []
    with (
        background_server(fast_app) as fast_url,
        background_server(slow_app) as slow_url,
        httpx.Client(base_url=fast_url, timeout=30) as fast,
        httpx.Client(base_url=slow_url, timeout=30) as slow,
    ):
        wait_ready(fast)
        wait_ready(slow)
        service = fast_app.state.service
        snapshot = service.snapshot

        def route_snapshot() -> Any:  # the route's first step; the fast path reads the snapshot itself
            route_calls.append(1)
            return snapshot()

        service.snapshot = route_snapshot
        arms: set[str] = set()
        statuses: list[int] = []
        for query in _queries(store):
            body = json.dumps(query).encode()
            before = len(route_calls)
            got = _answer(fast.post("/predict", content=body, headers={"content-type": "application/json"}))
            want = _answer(slow.post("/predict", content=body, headers={"content-type": "application/json"}))
            assert got == want, query
            statuses.append(got[0])
            fast_one = len(route_calls) == before  # the route's handler did not run (nor did it on a 422 of its own)
            if _event_query(body) is not None:  # a plain query: the fast path's when it answers, else the route's
                assert fast_one == (got[0] == 200), (query, got[0])
            elif got[0] == 200:  # a query the route coerces (a string id, a fixture): the route's
                assert not fast_one, query
            if got[0] == 200:
                assert got[2] == encode(json.loads(got[2]))
                arms.add(json.loads(got[2])["arm"])
        assert set(statuses) >= {200, 404, 422}
        assert arms == {"champion", "challenger"}

        # Not JSON by its content type, or JSON with a charset: the route decides, the fast path stays out.
        for content_type in ("text/plain", "application/json; charset=utf-8"):
            before = len(route_calls)
            body = json.dumps({"event_id": store.scheduled[-1]}).encode()
            got = _answer(fast.post("/predict", content=body, headers={"content-type": content_type}))
            want = _answer(slow.post("/predict", content=body, headers={"content-type": content_type}))
            assert got == want, content_type
            assert got[0] == (422 if content_type == "text/plain" else 200)
            assert len(route_calls) == before + (got[0] == 200), content_type  # a 200 here is the route's

        batch = {"queries": [*_queries(store)[:-12], fixture_query(store, home=2, away=3), {"event_id": 999_999}]}
        got = _answer(fast.post("/predict/batch", json=batch))
        want = _answer(slow.post("/predict/batch", json=batch))
        assert got == want
        assert got[0] == 200
        assert got[2] == encode(json.loads(got[2]))
        assert json.loads(got[2])["failed"] > 0

        # Counted by the metrics under the route's template either way (+ 1: the charset query's 200).
        labels = {"route": "/predict", "method": "POST", "status": "200"}
        counted = service.metrics.registry.get_sample_value("betpipe_http_requests_total", labels)
        assert counted == statuses.count(200) + 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"event_id": 7}', (7, "main")),
        (b'{"event_id": 7, "markets": "all"}', (7, "all")),
        (b'{"markets": "none", "event_id": 9223372036854775807}', (2**63 - 1, "none")),
        (b'{"event_id": 7, "event_id": 8}', (8, "main")),  # json.loads keeps the last, as the route does
        (b'{"event_id": "7"}', None),
        (b'{"event_id": 7.0}', None),
        (b'{"event_id": true}', None),
        (b'{"event_id": 0}', None),
        (b'{"event_id": 9223372036854775808}', None),
        (b'{"event_id": 7, "markets": "everything"}', None),
        (b'{"event_id": 7, "neutral_site": false}', None),
        (b'{"event_id": 7', None),
        (b"[7]", None),
    ],
)
def test_only_a_query_the_route_takes_as_is_is_a_fast_one(body: bytes, expected: tuple[int, str] | None) -> None:
    assert _event_query(body) == expected


def test_a_batch_body_is_the_encoding_of_the_whole_answer() -> None:
    predictions = [{"event_id": 1, "p": 0.1 + 0.2, "name": "Zürich", "markets": None}, {"event_id": None, "p": 1e-17}]
    problem = {"type": "urn:x", "title": "Unknown event", "status": 404, "detail": "no", "instance": "/predict/batch"}
    items: list[Any] = [encode(predictions[0]), problem, encode(predictions[1])]
    whole = {
        "results": [
            {"index": 0, "prediction": predictions[0], "problem": None},
            {"index": 1, "prediction": None, "problem": problem},
            {"index": 2, "prediction": predictions[1], "problem": None},
        ],
        "predicted": 2,
        "failed": 1,
    }
    assert batch_body(items, 2, 1) == encode(whole)
