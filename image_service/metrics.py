"""The image service's domain metrics (qrpass_image_*, qrpass_redis_*)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from qrpass.core.grpc_metrics import LATENCY_BUCKETS


class ImageMetrics:
    """Cache lookups, renders, single-flight waits, warm results and the Redis circuit."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "qrpass_image_cache_lookups_total",
            "Image requests by cache result (hit, miss, bypass).",
            ("result",),
            registry=registry,
        )
        self.render_seconds = Histogram(
            "qrpass_image_render_seconds",
            "Time to render one image on the request path, queueing included.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.renders = Counter(
            "qrpass_image_renders_total",
            "Images rendered, by path (request or warm).",
            ("path",),
            registry=registry,
        )
        self.renders_in_flight = Gauge(
            "qrpass_image_renders_in_flight",
            "Renders submitted to the workers and not finished.",
            registry=registry,
        )
        self.singleflight_waits = Counter(
            "qrpass_image_singleflight_waits_total",
            "Requests that waited for another request's render of the same image.",
            registry=registry,
        )
        self.warm_texts = Counter(
            "qrpass_image_warm_texts_total",
            "Texts in warm batches, by result (cached, rendered, failed).",
            ("result",),
            registry=registry,
        )
        self.circuit_state = Gauge(
            "qrpass_redis_circuit_state",
            "The Redis circuit breaker: 0 closed, 1 open, 2 half-open.",
            registry=registry,
        )
