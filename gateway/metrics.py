"""HTTP metrics by route template: requests, latency (sub-millisecond buckets), in flight."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qrpass.core.grpc_metrics import LATENCY_BUCKETS


class HttpMetrics:
    """Pure ASGI middleware; the route label is the matched template, never the raw path."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests, by route template, method and status.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being served.", registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"
            method = scope["method"]
            self.requests.labels(template, method, str(status)).inc()
            self.seconds.labels(template, method).observe(time.perf_counter() - start)
