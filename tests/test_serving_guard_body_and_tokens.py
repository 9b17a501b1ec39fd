"""Defect 16 of issue 14: the service's request-size cap and its tokens, against a real uvicorn on 127.0.0.1.

The size cases speak raw HTTP over a socket, because the point is what the server does *before* a body has been sent:
a declared ``Content-Length`` over the cap is refused while almost all of it is still unsent, and a chunked body is
cut off mid-stream without its final chunk. The token cases check that the ledger's read routes (stakes, P&L,
exposure) need a token, and that a token-guarded POST is refused for its token before its body is parsed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, FixedClock
from betpipe.config import ServingSettings, Settings
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from fakes.serving_store import PROBLEM_KEYS, wait_ready
from pipeline_store import TOKEN, live_settings, prepare_store

PROBLEM = "application/problem+json"
READ_TOKEN = "read-only-token-5678"
SMALL_CAP = 64 * 1024


def _bare_settings(tmp_path: Path, **serving: object) -> Settings:
    """A service over an empty SQLite file: enough for the size cap, which acts before any route or database."""
    url = f"sqlite:///{tmp_path / 'betpipe.sqlite'}"
    return Settings(data_dir=tmp_path / "data", database_url=url, serving={"alias_poll_seconds": 0.2, **serving})


@pytest.fixture
def small_cap_service(tmp_path: Path) -> Iterator[str]:
    app = create_app(_bare_settings(tmp_path, max_body_bytes=SMALL_CAP), clock=SYSTEM_CLOCK)
    with background_server(app) as base:
        yield base


def _raw_exchange(base: str, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and some body bytes, never finishing the body, then read whatever the server answers."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode("ascii"))
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while b"\r\n\r\n" not in received:  # a timeout here means the server kept waiting for the rest of the body
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before an answer: {received!r}"
            received += chunk
        head_bytes, _, rest = received.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(rest) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-answer"
            rest += chunk
    return status, headers, rest


def _assert_too_large(status: int, headers: dict[str, str], body: bytes, cap: int) -> None:
    assert status == 413, body
    assert headers["content-type"].startswith(PROBLEM)
    problem = json.loads(body)
    assert set(problem) == PROBLEM_KEYS
    assert problem["type"] == "urn:betpipe:problem:body-too-large"
    assert str(cap) in problem["detail"]


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(small_cap_service: str) -> None:
    declared = 50 * 1024 * 1024  # the 50 MB; only 100 bytes of it are ever sent
    head = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    status, headers, body = _raw_exchange(small_cap_service, head, [b" " * 100])
    _assert_too_large(status, headers, body, SMALL_CAP)
    assert headers.get("connection") == "close"  # the rest of the body is not read and discarded either
    with httpx.Client(base_url=small_cap_service, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(small_cap_service: str) -> None:
    head = (
        "POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 8192
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    parts = [chunk] * (SMALL_CAP // len(piece) + 1)  # one chunk past the cap, and no terminating 0-chunk
    status, headers, body = _raw_exchange(small_cap_service, head, parts)
    _assert_too_large(status, headers, body, SMALL_CAP)


def test_a_body_at_the_cap_is_read_and_judged_on_its_content(small_cap_service: str) -> None:
    with httpx.Client(base_url=small_cap_service, timeout=30) as client:
        at_cap = client.post("/predict", content=b"{" * SMALL_CAP, headers={"content-type": "application/json"})
        assert at_cap.status_code == 400, at_cap.text  # not JSON: parsed, so not refused for its size
        assert at_cap.json()["type"] == "urn:betpipe:problem:invalid-json"

        def chunks() -> Iterator[bytes]:
            yield b"{" * (SMALL_CAP // 2)
            yield b"{" * (SMALL_CAP // 2)

        streamed = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 400, streamed.text
        over = client.post("/predict", content=b"{" * (SMALL_CAP + 1), headers={"content-type": "application/json"})
        assert over.status_code == 413
        assert over.headers["content-type"].startswith(PROBLEM)


def test_the_default_cap_holds_a_full_batch_of_fixtures_with_long_team_names() -> None:
    """20,000 fixtures (the batch maximum) with long real team names must fit, or the cap breaks /predict/batch."""
    query = {
        "home_team": "Wolverhampton Wanderers FC",
        "away_team": "Brighton & Hove Albion FC",
        "competition": "E0",
        "kickoff": "2030-08-17T14:00:00.000000+00:00",
        "neutral_site": False,
    }
    body = json.dumps({"queries": [query] * 20_000}).encode()
    assert len(body) <= ServingSettings().max_body_bytes
    assert ServingSettings().max_body_bytes <= 8 * 1024 * 1024  # and it is still a cap


def test_the_cap_and_the_read_token_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_SERVING__MAX_BODY_BYTES", "12345")
    monkeypatch.setenv("BETPIPE_SERVING__READ_TOKEN", READ_TOKEN)
    settings = Settings()
    assert settings.serving.max_body_bytes == 12345
    assert settings.serving.read_token is not None
    assert settings.serving.read_token.get_secret_value() == READ_TOKEN
    assert READ_TOKEN not in json.dumps(settings.masked())


@pytest.fixture
def ledger_service(sqlite_engine: Engine, tmp_path: Path) -> Iterator[str]:
    """The live sample store with a write token (``TOKEN``) and a read token (``READ_TOKEN``)."""
    serving = ServingSettings(api_token=TOKEN, read_token=READ_TOKEN, alias_poll_seconds=0.2)  # type: ignore[arg-type]
    settings = live_settings(str(sqlite_engine.url), tmp_path).model_copy(update={"serving": serving})
    eve = prepare_store(sqlite_engine, settings)
    app = create_app(settings, clock=FixedClock(eve), engine=sqlite_engine)
    with background_server(app) as base:
        yield base


def _problem_type(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert TOKEN not in response.text
    assert READ_TOKEN not in response.text
    return str(response.json()["type"])


READ_ROUTES = ("/bets", "/opportunities", "/metrics")


def test_the_ledger_read_routes_need_the_read_or_the_write_token(ledger_service: str) -> None:
    with httpx.Client(base_url=ledger_service, timeout=60) as client:
        wait_ready(client)
        for path in READ_ROUTES:
            assert _problem_type(client.get(path), 401) == "urn:betpipe:problem:missing-token", path
            assert client.get(path).headers["www-authenticate"] == "Bearer"
            wrong = client.get(path, headers={"Authorization": "Bearer not-it"})
            assert _problem_type(wrong, 403) == "urn:betpipe:problem:invalid-token", path
            for token in (READ_TOKEN, TOKEN):
                allowed = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert allowed.status_code == 200, (path, allowed.text)
        for path in ("/health", "/ready", "/models"):  # operations and predictions stay open
            assert client.get(path).status_code == 200, path
        assert client.get("/openapi.json").json()["components"]["securitySchemes"]


def test_the_read_token_cannot_place_bets_and_the_token_is_checked_before_the_body(ledger_service: str) -> None:
    with httpx.Client(base_url=ledger_service, timeout=60) as client:
        wait_ready(client)
        not_json = {"content-type": "application/json"}
        assert _problem_type(client.post("/bets", content=b"{nope", headers=not_json), 401).endswith("missing-token")
        wrong_shape = client.post("/bets", json={"event_ids": "x"}, headers={"Authorization": "Bearer not-it"})
        assert _problem_type(wrong_shape, 403).endswith("invalid-token")
        read_only = client.post("/bets", json={}, headers={"Authorization": f"Bearer {READ_TOKEN}"})
        assert _problem_type(read_only, 403).endswith("invalid-token")
        write = {"Authorization": f"Bearer {TOKEN}"}
        assert _problem_type(client.post("/bets", content=b"{nope", headers={**write, **not_json}), 400).endswith(
            "invalid-json"
        )
        assert _problem_type(client.post("/bets", json={"event_ids": "x"}, headers=write), 422).endswith(
            "validation-error"
        )
        assert _problem_type(client.post("/bets", headers=write), 422).endswith("validation-error")
        assert client.get("/bets", headers=write).json() == {"bets": []}  # nothing refused was placed
        placed = client.post("/bets", json={}, headers=write)
        assert placed.status_code == 200, placed.text
        assert placed.json()["placed"] > 0


def test_with_no_token_configured_the_ledger_reads_are_refused_and_predictions_still_served(tmp_path: Path) -> None:
    app = create_app(_bare_settings(tmp_path), clock=SYSTEM_CLOCK)
    with background_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        for path in READ_ROUTES:
            refused = client.get(path, headers={"Authorization": "Bearer anything"})
            assert _problem_type(refused, 403) == "urn:betpipe:problem:reads-disabled", path
        assert client.get("/health").status_code == 200
        assert client.post("/predict", json={"event_id": 1}).status_code == 503  # open: not ready, not refused
