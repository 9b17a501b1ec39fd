"""The service under faults: a database down at start-up or lost mid-run, and a fuzz of its own OpenAPI document.

The PostgreSQL case puts a real TCP relay on 127.0.0.1 between the service and the server, so "down" is a closed
port and "back" is the relay listening again, with the service process untouched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy.engine import make_url

from betpipe.config import Settings
from betpipe.serving import create_app
from betpipe.serving.server import background_server
from fakes.serving_store import PROBLEM_KEYS, Store, make_store, wait_ready


class Relay:
    """A TCP relay from a local port to ``target``; closed means the port refuses connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()  # the port is now closed: nothing listens there until start()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a database that went away would."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept(); a bare close() would leave it listening
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self._sockets.clear()


@pytest.fixture
def pg_store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the TCP relay stands in for a PostgreSQL server; SQLite has no server to lose")
    store = make_store(database_url, tmp_path / "data")
    yield store
    store.engine.dispose()


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_KEYS
    return str(body["detail"])


def test_database_down_at_start_then_lost_mid_run_and_back(pg_store: Store) -> None:
    url = make_url(str(pg_store.settings.database_url))
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    config = Settings(data_dir=pg_store.settings.data_dir, database_url=proxied, serving={"alias_poll_seconds": 0.2})
    app = create_app(config, clock=pg_store.clock)
    try:
        with background_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/health").status_code == 200  # alive while the database is down
            assert "database unreachable" in _problem(client.get("/ready"), 503)
            _problem(client.post("/predict", json={"event_id": pg_store.scheduled[0]}), 503)
            _problem(client.get("/models"), 503)

            relay.start()
            wait_ready(client)
            assert client.post("/predict", json={"event_id": pg_store.scheduled[0]}).status_code == 200

            relay.stop()  # lost mid-run: loaded models keep serving, readiness says why
            assert "database unreachable" in _problem(client.get("/ready"), 503)
            assert client.post("/predict", json={"event_id": pg_store.scheduled[1]}).status_code == 200
            _problem(client.get("/models"), 503)

            relay.start()
            wait_ready(client)
            assert client.get("/models").status_code == 200
    finally:
        relay.stop()


def test_unmigrated_sqlite_store_is_not_ready_until_it_is_built(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'betpipe.sqlite'}"
    config = Settings(data_dir=tmp_path / "data", database_url=url, serving={"alias_poll_seconds": 0.2})
    from betpipe.clock import SYSTEM_CLOCK

    app = create_app(config, clock=SYSTEM_CLOCK)
    with background_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        time.sleep(0.3)
        _problem(client.get("/ready"), 503)
        store = make_store(url, tmp_path / "data")  # the same files the service points at
        try:
            ready = wait_ready(client)
            assert ready["sports"]["soccer"]["champion_version_id"] == store.champion_id  # type: ignore[index]
        finally:
            store.engine.dispose()


FUZZ_EXAMPLES = int(os.environ.get("BETPIPE_FUZZ_EXAMPLES", "40"))  # per generation mode; CI keeps it small


def test_fuzzing_the_openapi_document_finds_no_server_error(tmp_path: Path) -> None:
    """Schemathesis generates valid and invalid requests for every operation; none may get a 5xx.

    Every request carries the write token, so the fuzz reaches the guarded routes' handlers and POST /bets's body
    parser rather than stopping at 401 (the refusals themselves: test_serving_guard_body_and_tokens.py)."""
    import schemathesis
    from schemathesis import GenerationMode

    token = "fuzz-token-0000"
    store = make_store(f"sqlite:///{tmp_path / 'betpipe.sqlite'}", tmp_path / "data", api_token=token)
    app = create_app(store.settings, clock=store.clock)
    statuses: dict[int, int] = {}
    try:
        with background_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
            wait_ready(client)
            schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=FUZZ_EXAMPLES,
                    database=None,
                    deadline=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=schema.as_strategy(generation_mode=mode))
                def fuzz(case: schemathesis.Case) -> None:
                    response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"})
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    assert response.status_code < 500, (case.method, case.path, case.body, response.text)

                fuzz()
    finally:
        store.engine.dispose()
    print(f"fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= FUZZ_EXAMPLES  # the fuzz did run
    assert 200 in statuses
