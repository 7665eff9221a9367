"""The image service's domain metrics (qrpass_image_*, qrpass_redis_*)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from image_service.cache import BackendStats
from qrpass.core.prometheus import Declare

# How often the backend's own figures are read; a scrape never waits on Redis.
BACKEND_REFRESH_SECONDS = 15.0


class ImageMetrics:
    """Cache lookups, renders, single-flight waits, warm results and the Redis circuit."""

    def __init__(self, registry: CollectorRegistry) -> None:
        declare = Declare(registry)
        self.lookups = declare.counter(
            "qrpass_image_cache_lookups_total",
            "Image requests by cache result (hit, miss, bypass).",
            ("result",),
        )
        self.render_seconds = declare.histogram(
            "qrpass_image_render_seconds",
            "Time to render one image on the request path, queueing included.",
        )
        self.renders = declare.counter(
            "qrpass_image_renders_total", "Images rendered, by path (request or warm).", ("path",)
        )
        self.renders_in_flight = declare.gauge(
            "qrpass_image_renders_in_flight", "Renders submitted to the workers and not finished."
        )
        self.singleflight_waits = declare.counter(
            "qrpass_image_singleflight_waits_total",
            "Requests that waited for another request's render of the same image.",
        )
        self.warm_texts = declare.counter(
            "qrpass_image_warm_texts_total",
            "Texts in warm batches, by result (cached, rendered, failed).",
            ("result",),
        )
        self.warm_failures = declare.counter(
            "qrpass_image_warm_failures",
            "Warm texts that failed, by reason: timeout, connection, loading, cluster, read_only, "
            "auth, out_of_memory, error (another cache failure), render, empty_text.",
            ("reason",),
        )
        self.backend = BackendFigures(registry)
        self.circuit_state = declare.gauge(
            "qrpass_redis_circuit_state",
            "The Redis circuit breaker: 0 closed, 1 open, 2 half-open.",
        )


class BackendFigures(Collector):
    """qrpass_image_cache_{entries,memory_bytes,max_memory_bytes,evictions_total}: what the
    cache backend reports, as last read. Every replica reads the same Redis, so dashboards and
    alerts take max() over replicas, never sum(). Absent until read, and while Redis is down."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latest: BackendStats | None = None
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        latest = self.latest
        if latest is None or not latest.connected:
            return
        labels = ("backend",)
        gauges = (
            ("entries", "Cached images: qrpass's keys only (on a shared Redis, estimated).",
             latest.entries),
            ("memory_bytes", "Memory the cache backend uses (Redis: used_memory, whole server).",
             latest.memory_bytes),
            ("max_memory_bytes", "The backend's memory limit (Redis: maxmemory; 0 is none).",
             latest.max_memory_bytes),
        )  # fmt: skip
        for name, documentation, value in gauges:
            family = GaugeMetricFamily(f"qrpass_image_cache_{name}", documentation, labels=labels)
            family.add_metric((latest.backend,), value)
            yield family
        evictions = CounterMetricFamily(
            "qrpass_image_cache_evictions",
            "Keys the backend pushed out for room since it started (Redis: evicted_keys).",
            labels=labels,
        )
        evictions.add_metric((latest.backend,), latest.evictions)
        yield evictions
