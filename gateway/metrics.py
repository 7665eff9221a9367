"""HTTP metrics by route template (requests, latency in sub-millisecond buckets, in flight), and
the access log line, both written from the one middleware that sees every response end."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access_log import AccessLog
from gateway.nearcache import NearCache
from qrpass.core.prometheus import Declare


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/{kind}/{id}/qr`), never the raw path, which carries
    subject ids: what metrics, the access log and error logs name a request by."""
    return getattr(scope.get("route"), "path_format", None) or "unmatched"


class HttpMetrics:
    """Pure ASGI middleware; the route label is the matched template, never the raw path."""

    def __init__(
        self, app: ASGIApp, registry: CollectorRegistry, access_log: AccessLog | None
    ) -> None:
        declare = Declare(registry)
        self.app = app
        self.access_log = access_log
        self.requests = declare.counter(
            "http_requests_total",
            "HTTP requests, by route template, method and status.",
            ("route", "method", "status"),
        )
        self.seconds = declare.histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by route template and method.",
            ("route", "method"),
        )
        self.in_flight = declare.gauge("http_requests_in_flight", "HTTP requests being served.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        sent_bytes = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                sent_bytes += len(message.get("body", b""))
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.in_flight.dec()
            template = route_template(scope)
            method = scope["method"]
            self.requests.labels(template, method, str(status)).inc()
            seconds = time.perf_counter() - start
            # A sampled request's trace rides along as an exemplar (OpenMetrics output only):
            # from a slow bucket on a dashboard straight to the trace.
            trace_id = scope.get("state", {}).get("trace_id")
            exemplar = {"trace_id": trace_id} if trace_id else None
            self.seconds.labels(template, method).observe(seconds, exemplar)
            if self.access_log is not None:
                self.access_log.write(scope, template, status, seconds, sent_bytes)


class NearCacheMetrics(Collector):
    """qrpass_gateway_cache_*: read from the near-cache at scrape time, nothing on the hot path."""

    def __init__(self, cache: NearCache, registry: CollectorRegistry) -> None:
        self._cache = cache
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        cache = self._cache
        lookups = CounterMetricFamily(
            "qrpass_gateway_cache_lookups",
            "Near-cache lookups by result: hit, miss, or bypass (the change stream was down).",
            labels=("result",),
        )
        for result, count in (("hit", cache.hits), ("miss", cache.misses),
                              ("bypass", cache.bypasses)):  # fmt: skip
            lookups.add_metric((result,), count)
        yield lookups
        total = cache.hits + cache.misses + cache.bypasses
        gauges = (
            ("hit_ratio", "Near-cache hits over all lookups since start.",
             cache.hits / total if total else 0.0),
            ("entries", "Subjects whose pass (token and default PNG) the near-cache holds.",
             len(cache)),
            ("bytes", "Bytes the held passes count against the limit (token, PNG, ETag and "
             "overhead each).", cache.bytes),
            ("max_bytes", "The near-cache's size limit (GATEWAY_NEAR_CACHE_MB).", cache.max_bytes),
            ("tokens", "Current tokens known from the change stream (every live subject).",
             cache.known_tokens),
            ("live", "1 while the change stream is followed and the near-cache may serve.",
             1 if cache.live else 0),
            ("sequence", "The newest change-log position the change stream has reported.",
             cache.sequence),
        )  # fmt: skip
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(f"qrpass_gateway_cache_{name}", documentation, value=value)
        resets = CounterMetricFamily(
            "qrpass_gateway_cache_resets",
            "Times the change stream started over, by reason: new_watcher (this gateway's first "
            "stream), position_unknown, keys_changed, too_slow.",
            labels=("reason",),
        )
        for reason, count in sorted(cache.resets.items()):
            resets.add_metric((reason,), count)
        yield resets
