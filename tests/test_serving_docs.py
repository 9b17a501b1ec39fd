"""The service's documentation (issue 17 item 6): /docs and /redoc work offline (every asset they load is the app's
own and is served), every field of every body says what it is in which unit, the ledger's routes declare the bearer
scheme (the Authorize button), and every documented request example answers 2xx on a store built as ``make demo``
builds it, with a response of the documented example's shape."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy import Engine

from betpipe.clock import FixedClock
from betpipe.config import PipelineSettings, RiskSettings, ServingSettings, Settings
from betpipe.db import make_engine, upgrade
from betpipe.features import build_features
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SampleLeagueConfig
from betpipe.live.training import train_model
from betpipe.registry import promote
from betpipe.serving import create_app
from betpipe.serving.schemas import DEMO_AS_OF, DEMO_EVENT_ID
from betpipe.serving.server import background_server

TOKEN = "docs-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEDGER_ROUTES = {("get", "/opportunities"), ("get", "/bets"), ("post", "/bets"), ("get", "/metrics")}
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Demo:
    base: str
    app_routes: dict[tuple[str, str], APIRoute]
    openapi: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The sample league with `make demo`'s configuration (so its event ids), an Elo champion, served at the eve
    of the matchday the examples name: what `betpipe serve --as-of 2025-03-22T10:30:00` serves after `make demo`."""
    data_dir = tmp_path_factory.mktemp("docs-demo")
    url = f"sqlite:///{data_dir}/betpipe.sqlite"
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        pipeline=PipelineSettings(book="sample_soft", sharp_book="sample_sharp", source="none"),  # type: ignore[arg-type]
        risk=RiskSettings(max_price_age_seconds=4 * 86400.0),
        serving=ServingSettings(api_token=TOKEN, alias_poll_seconds=0.2),  # type: ignore[arg-type]
    )
    engine: Engine = make_engine(url)
    upgrade(engine)
    ingest_sample(engine, SampleLeagueConfig())  # make demo's defaults: 20 teams, 6 seasons
    build_features(engine, settings=settings)
    version = train_model(engine, sport="soccer", model="elo_logit", settings=settings).version
    promote(engine, version.id, reason="docs test champion")
    app = create_app(settings, clock=FixedClock(datetime.fromisoformat(DEMO_AS_OF)), engine=engine)
    routes = {(m.lower(), r.path): r for r in app.routes if isinstance(r, APIRoute) for m in r.methods}
    try:
        with background_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").json()
                time.sleep(0.2)
            yield Demo(base, routes, client.get("/openapi.json").json())
    finally:
        engine.dispose()


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return dict(openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]) if isinstance(ref, str) else schema


def _request_examples(openapi: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return []
    found = [e["value"] for e in content.get("examples", {}).values()]
    return found + list(_resolve(openapi, content["schema"]).get("examples", []))


def _response_examples(openapi: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    content = operation["responses"].get("200", {}).get("content", {}).get("application/json")
    return [] if content is None else list(_resolve(openapi, content["schema"]).get("examples", []))


def _response_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return dict(operation["responses"]["200"]["content"]["application/json"]["schema"])


def _same_shape(openapi: dict[str, Any], schema: dict[str, Any], example: Any, answer: Any) -> bool:
    """The objects of fixed fields (``properties``) have the same keys, recursively; maps keyed by data (reasons,
    outcomes, sports) and lists are compared by their first values when both have one (the store may have no bets
    yet where the example shows one)."""
    schema = _resolve(openapi, schema)
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if options:
        schema = _resolve(openapi, options[0])
    if isinstance(example, dict) and isinstance(answer, dict):
        if "properties" in schema:
            props = schema["properties"]
            same = example.keys() == answer.keys()
            return same and all(_same_shape(openapi, props[k], example[k], answer[k]) for k in example)
        if not example or not answer:
            return True
        inner = schema.get("additionalProperties")
        first = next(iter(example.values())), next(iter(answer.values()))
        return not isinstance(inner, dict) or _same_shape(openapi, inner, *first)
    if isinstance(example, list) and isinstance(answer, list):
        return not example or not answer or _same_shape(openapi, schema.get("items", {}), example[0], answer[0])
    return True


def test_docs_pages_load_only_the_apps_own_assets_and_each_is_served(demo: Demo) -> None:
    with httpx.Client(base_url=demo.base, timeout=30) as client:
        for page, needed in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            html = client.get(page)
            assert html.status_code == 200
            assert html.headers["content-type"].startswith("text/html")
            assets = ASSET.findall(html.text)
            assert any(a.endswith(needed) for a in assets), assets
            assert not re.search(r"https?://", html.text), f"{page} names a remote URL"
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                served = client.get(asset)
                assert served.status_code == 200, asset
                assert served.content, asset
        spec_url = re.search(r"url:\s*'([^']+)'", client.get("/docs").text)
        assert spec_url is not None
        assert client.get(spec_url.group(1)).json()["openapi"].startswith("3.1")


def test_openapi_declares_the_bearer_scheme_on_exactly_the_ledger_routes(demo: Demo) -> None:
    schemes = demo.openapi["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    secured = {(m, p) for p, ops in demo.openapi["paths"].items() for m, o in ops.items() if o.get("security")}
    assert secured == LEDGER_ROUTES
    with httpx.Client(base_url=demo.base, timeout=30) as client:  # the problem JSON is unchanged by the scheme
        missing = client.get("/bets")
        assert missing.status_code == 401
        assert missing.json()["type"].endswith("missing-token")


def test_every_field_is_described_and_money_prices_probabilities_and_instants_say_their_unit(demo: Demo) -> None:
    units = {"Money": ("currency", "decimal string"), "Price": ("decimal odds",), "Probability": ("[0, 1]",)}
    checked = dict.fromkeys(units, 0) | {"instant": 0}
    for name, schema in demo.openapi["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            description = prop.get("description", "")
            assert description, f"{name}.{field} has no description"
            text = str(prop).lower()
            if "date-time" in text:
                assert "UTC" in description, f"{name}.{field}: {description}"
                checked["instant"] += 1
            kind = {"stake": "Money", "pnl": "Money", "price": "Price", "probability": "Probability"}.get(field)
            if kind is not None:
                assert all(word in text for word in units[kind]), f"{name}.{field}: {text}"
                checked[kind] += 1
    assert all(checked.values()), checked  # each kind was seen (Bet, Opportunity, Placement)


def test_every_documented_example_answers_2xx_on_the_demo_store_with_the_documented_shape(demo: Demo) -> None:
    sent = 0
    with httpx.Client(base_url=demo.base, timeout=60, headers=AUTH) as client:
        for path, operations in demo.openapi["paths"].items():
            for method, operation in operations.items():
                bodies = _request_examples(demo.openapi, operation) or [None]
                for body in bodies:
                    answer = client.request(method, path, json=body)
                    assert 200 <= answer.status_code < 300, (method, path, body, answer.text)
                    sent += body is not None
                    route = demo.app_routes[(method, path)]
                    for example in _response_examples(demo.openapi, operation):
                        TypeAdapter(route.response_model).validate_python(example)  # the example is a valid answer
                        shape = _response_schema(operation)
                        assert _same_shape(demo.openapi, shape, example, answer.json()), (path, example, answer.text)
        predicted = client.post("/predict", json={"event_id": DEMO_EVENT_ID}).json()
        assert predicted["event_id"] == DEMO_EVENT_ID
        assert predicted["home_team"] == "Oakhurst Athletic"
    assert sent >= 4  # /predict (event and fixture), /predict/batch, POST /bets


def test_the_screenshot_of_docs_is_in_docs_and_small() -> None:
    shot = Path(__file__).parents[1] / "docs" / "serving_docs.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size <= 300_000
