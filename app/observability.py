"""Prometheus metrics and structured request logs, with a request id that ties the two together.

Each app has its own registry (tests and notebooks build several apps in one process). `/metrics`
serves it in Prometheus' text format; the services time the model and the store through `Metrics`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

access_log = logging.getLogger("kgrel.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("kgrel_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("kgrel_request_seconds", "Time to answer an HTTP request", ["method", "route"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("kgrel_requests_in_flight", "Requests being served (the queue depth)",
                               registry=self.registry)
        self.model = Histogram("kgrel_model_seconds", "Time in the relation model", ["operation"],
                               buckets=_BUCKETS, registry=self.registry)
        self.store = Histogram("kgrel_store_seconds", "Time in the RDF store", ["operation"],
                               buckets=_BUCKETS, registry=self.registry)
        self.queries_running = Gauge("kgrel_sparql_queries_running", "Client SPARQL queries running",
                                     registry=self.registry)

    def time_model(self, operation: str):
        return _timed(self.model.labels(operation))

    def time_store(self, operation: str):
        return _timed(self.store.labels(operation))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@contextmanager
def _timed(histogram):
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - start)


class RequestLog:
    """ASGI middleware: a request id (the client's X-Request-ID when sane, else a new one) echoed in
    the response, per-route counts and latencies, and one JSON log line per request."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope["kgrel.request_id"] = request_id
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        start = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - start
            route = _route_of(scope)
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(seconds)
            access_log.info(json.dumps({"request_id": request_id, "method": scope["method"], "route": route,
                                        "path": scope.get("path"), "status": status["code"],
                                        "ms": round(seconds * 1000, 1), "role": scope.get("kgrel.role")}))


def _route_of(scope) -> str:
    """The route template (/sessions/{session_id}), so that ids do not explode the metric's labels."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    if scope.get("path", "").startswith("/ui"):
        return "/ui"
    return "unmatched"
