"""Builds the image service from its settings: cache, render pool, servicer and gRPC server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from image_service.breaker import CircuitBreaker, State
from image_service.cache import CacheUnavailable, MemoryCache, RedisCache
from image_service.errors import STATUS_CODES
from image_service.images import Cache, ImageBook
from image_service.metrics import BACKEND_REFRESH_SECONDS, ImageMetrics
from image_service.pool import RenderPool, RenderWorkerLost
from image_service.servicer import ImageServicer
from image_service.settings import ImageSettings
from qrpass.core.grpc_server import MIB, MessageLimits, RunningServer, Service, create_server
from qrpass.image.v1 import image_service_pb2 as pb
from qrpass.image.v1 import image_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageService"].full_name
# A warm batch (5,000 passes) in; the largest image (4,096 px a side) out.
LIMITS = MessageLimits(receive_bytes=4 * MIB, send_bytes=16 * MIB)

# The cache being down is an answer (BYPASS), never an error; this maps what is left.
_ERRORS = {
    **STATUS_CODES,
    CacheUnavailable: ("UNAVAILABLE", "the image cache is unavailable"),
    RenderWorkerLost: ("UNAVAILABLE", "a render worker was restarted; retry"),
}


def _circuit_reporter(metrics: ImageMetrics) -> Callable[[State], None]:
    """Sets the circuit gauge, and logs an outage once when it starts and once when it ends
    (not at each failed probe in between)."""
    last = State.CLOSED

    def on_change(state: State) -> None:
        nonlocal last
        metrics.circuit_state.set(int(state))
        if state == State.OPEN and last == State.CLOSED:
            log.warning("redis unreachable; passes are rendered without the cache until it returns")
        elif state == State.CLOSED:
            log.info("redis reachable again; caching resumes")
        last = state

    return on_change


def build_cache(settings: ImageSettings, metrics: ImageMetrics) -> Cache:
    if settings.redis_url is None:
        return MemoryCache(settings.ttl_seconds, settings.memory_cache_bytes)
    breaker = CircuitBreaker(on_change=_circuit_reporter(metrics))
    return RedisCache(
        settings.redis_url, settings.ttl_seconds, cluster=settings.redis_cluster, breaker=breaker
    )


async def create_image_server(
    settings: ImageSettings,
    registry: CollectorRegistry,
    pool: RenderPool,
    address: str | None = None,
) -> RunningServer:
    """Start an image service; `pool` must be started first (its workers fork before gRPC)."""
    metrics = ImageMetrics(registry)
    book = ImageBook(build_cache(settings, metrics), pool, metrics)
    service = Service(
        SERVICE_NAME,
        ImageServicer(book),
        pb_grpc.add_ImageServiceServicer_to_server,
        LIMITS,
        _ERRORS,
    )
    running = await create_server(address or settings.listen_addr, service, settings.grpc, registry)
    reader = asyncio.ensure_future(_read_backend(book))
    running.on_stop.append(reader.cancel)
    return running


async def _read_backend(book: ImageBook) -> None:
    """Keeps the backend's figures for /metrics fresh; a GetCacheStats refreshes them too."""
    while True:
        await book.stats()
        await asyncio.sleep(BACKEND_REFRESH_SECONDS)
