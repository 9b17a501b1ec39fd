"""Prometheus metrics of one service instance: requests and latency per route, predictions per model version.

Each app gets its own ``CollectorRegistry`` (two apps in one test process do not share counters). Routes are labelled
by their template (``/predict``), never by the raw path, so a scan of random URLs cannot blow up the label set. Must
stay cheap: the middleware is plain ASGI and does a dictionary lookup plus two observations per request (the labelled
children are looked up once per label set and kept: ``labels`` takes a lock and builds a key on every call).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "betpipe_http_requests",
            "HTTP requests by route, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "betpipe_http_request_duration_seconds",
            "Request latency by route.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "betpipe_predictions",
            "Predictions served by sport, model version and A/B arm.",
            ("sport", "model_version_id", "arm"),
            registry=self.registry,
        )
        self.shadow_writes = Counter(
            "betpipe_served_prediction_writes",
            "Served predictions handed to the registry, by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.swaps = Counter("betpipe_model_swaps", "Serving snapshots swapped in.", registry=self.registry)
        self.loaded = Gauge(
            "betpipe_loaded_model_version",
            "1 for each model version served, by sport and arm.",
            ("sport", "model_version_id", "arm"),
            registry=self.registry,
        )

        # Labelled children by label values, kept (these metrics are never cleared): one dict get per request.
        self._served: dict[tuple[str, int, str], Any] = {}
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}

    def served(self, sport: str, version_id: int, arm: str, count: int = 1) -> None:
        key = (sport, version_id, arm)
        child = self._served.get(key)
        if child is None:
            child = self._served[key] = self.predictions.labels(sport, str(version_id), arm)
        child.inc(count)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered: counted by route, method and status, its latency observed by route."""
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = self.latency.labels(route)
        latency.observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by the matched route template (or ``unmatched``)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.request(label, scope.get("method", ""), status, time.perf_counter() - start)
