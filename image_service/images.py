"""The image book: cache-first rendering with single flight, warming, invalidation and stats."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from image_service import render
from image_service.cache import BackendStats, CacheUnavailable
from image_service.errors import InvalidOptions
from image_service.metrics import ImageMetrics
from image_service.render import RenderOptions
from image_service.retry import WarmRetry
from qrpass.vocabulary import MAX_WARM_BATCH

log = logging.getLogger(__name__)

_WRITE_BATCH = 500


class Status(enum.Enum):
    """Where an image came from."""

    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"


class Cache(Protocol):
    """What the image book needs of a cache backend."""

    name: str

    # `variant`: options other than the defaults, kept so they never evict a default pass.
    async def get(self, key: str, *, variant: bool = False) -> bytes | None: ...
    async def get_many(
        self, keys: Sequence[str], *, variant: bool = False
    ) -> list[bytes | None]: ...
    # `bulk`: the warm's calls, on connections of their own with a longer timeout.
    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False, bulk: bool = False
    ) -> None: ...
    async def exists_many(
        self, keys: Sequence[str], *, variant: bool = False, bulk: bool = False
    ) -> list[bool]: ...
    async def delete(self, key: str) -> bool: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def clear(self) -> int: ...
    async def backend_stats(self) -> BackendStats: ...


class Renderer(Protocol):
    """What the image book needs of a renderer: the worker pool in the service."""

    async def render(self, text: str, options: RenderOptions) -> bytes: ...
    async def render_many(
        self, texts: Sequence[str], options: RenderOptions
    ) -> list[bytes | None]: ...


@dataclass(frozen=True)
class Image:
    """A rendered image and how it was obtained."""

    data: bytes
    content_type: str
    etag: str
    status: Status


@dataclass(frozen=True)
class WarmCounts:
    """What one warm batch did; `failures` splits `failed` by reason."""

    requested: int
    already_cached: int
    rendered: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheStats:
    """The backend's figures plus this process's counters."""

    backend: BackendStats
    hits: int
    misses: int
    bypasses: int

    @property
    def hit_ratio(self) -> float:
        """Hits over all lookups; a bypass is a miss from the user's side."""
        lookups = self.hits + self.misses + self.bypasses
        return self.hits / lookups if lookups else 0.0


class ImageBook:
    """Serves images cache-first; concurrent misses on one key share a single render."""

    def __init__(
        self, cache: Cache, pool: Renderer, metrics: ImageMetrics, retry: WarmRetry | None = None
    ) -> None:
        self._cache = cache
        self._pool = pool
        self._metrics = metrics
        self._retry = retry or WarmRetry()
        self._in_flight: dict[str, asyncio.Task[tuple[bytes, Status]]] = {}
        self._counts = {Status.HIT: 0, Status.MISS: 0, Status.BYPASS: 0}

    def _count(self, status: Status) -> None:
        self._counts[status] += 1
        self._metrics.lookups.labels(status.value).inc()

    async def get(self, text: str, options: RenderOptions) -> Image:
        if not text:
            raise InvalidOptions("text is empty")
        key = render.cache_key(text, options)
        etag = render.etag_for(key)
        cache_ok = True
        try:
            cached = await self._cache.get(key, variant=options.is_variant)
        except CacheUnavailable:
            cached, cache_ok = None, False
        if cached is not None:
            self._count(Status.HIT)
            return Image(cached, options.content_type, etag, Status.HIT)
        data, status = await self._render_once(key, text, options, cache_ok)
        self._count(status)
        return Image(data, options.content_type, etag, status)

    async def get_many(
        self, texts: Sequence[str], options: RenderOptions, *, cached_only: bool = False
    ) -> list[Image | None]:
        """Many texts in one cache round trip; misses rendered (single flight, as in `get`),
        or left as None when `cached_only`. A cached-only batch fills a caller's cache: it is
        not counted as lookups, so the hit ratio stays the users' own."""
        if len(texts) > MAX_WARM_BATCH:
            raise InvalidOptions(f"a batch holds at most {MAX_WARM_BATCH} texts")
        for i, text in enumerate(texts):
            if not text:
                raise InvalidOptions(f"texts[{i}] is empty")
        keys = [render.cache_key(text, options) for text in texts]
        cache_ok = True
        try:
            found = await self._cache.get_many(keys, variant=options.is_variant)
        except CacheUnavailable:
            found, cache_ok = [None] * len(keys), False
        images: list[Image | None] = [
            None if data is None else Image(data, options.content_type, render.etag_for(key),
                                            Status.HIT)
            for key, data in zip(keys, found, strict=True)
        ]  # fmt: skip
        if cached_only:
            return images
        for image in images:
            if image is not None:
                self._count(Status.HIT)
        misses = [i for i, image in enumerate(images) if image is None]
        rendered = await asyncio.gather(
            *(self._render_once(keys[i], texts[i], options, cache_ok) for i in misses)
        )
        for i, (data, status) in zip(misses, rendered, strict=True):
            self._count(status)
            images[i] = Image(data, options.content_type, render.etag_for(keys[i]), status)
        return images

    async def _render_once(
        self, key: str, text: str, options: RenderOptions, cache_ok: bool
    ) -> tuple[bytes, Status]:
        """Render and store `text`, or wait for the render of it already under way."""
        task = self._in_flight.get(key)
        if task is None:
            # A task of its own: a leader whose client gives up must not cancel the followers.
            task = asyncio.ensure_future(self._render_and_store(key, text, options, cache_ok))
            self._in_flight[key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        else:
            self._metrics.singleflight_waits.inc()
        return await asyncio.shield(task)

    async def _render_and_store(
        self, key: str, text: str, options: RenderOptions, cache_ok: bool
    ) -> tuple[bytes, Status]:
        start = time.perf_counter()
        self._metrics.renders_in_flight.inc()
        try:
            data = await self._pool.render(text, options)
        finally:
            self._metrics.renders_in_flight.dec()
        self._metrics.render_seconds.observe(time.perf_counter() - start)
        self._metrics.renders.labels("request").inc()
        if not cache_ok:
            return data, Status.BYPASS
        try:
            await self._cache.set_many([(key, data)], variant=options.is_variant)
        except CacheUnavailable:
            return data, Status.BYPASS
        return data, Status.MISS

    async def warm(self, texts: Sequence[str], options: RenderOptions) -> WarmCounts:
        """Render and store what is not cached yet. Cache calls ride out a transient fault
        (image_service/retry.py); what still fails is counted by reason and logged once."""
        if len(texts) > MAX_WARM_BATCH:
            raise InvalidOptions(f"a warm batch holds at most {MAX_WARM_BATCH} texts")
        unique = list(dict.fromkeys(t for t in texts if t))
        keys = [render.cache_key(t, options) for t in unique]
        failures: Counter[str] = Counter(empty_text=sum(1 for t in texts if not t))
        # A text sent twice is done once, and counted as already cached.
        duplicates = len(texts) - failures["empty_text"] - len(unique)
        exists = functools.partial(
            self._cache.exists_many, keys, variant=options.is_variant, bulk=True
        )
        try:
            cached = await self._retry.call(exists)
        except CacheUnavailable as error:
            failures[error.reason] += len(texts) - failures["empty_text"]
            return self._warmed(len(texts), 0, 0, failures, error)
        todo = [(t, k) for t, k, hit in zip(unique, keys, cached, strict=True) if not hit]
        already = len(unique) - len(todo) + duplicates
        self._metrics.renders_in_flight.inc(len(todo))
        try:
            images = await self._pool.render_many([t for t, _ in todo], options)
        finally:
            self._metrics.renders_in_flight.dec(len(todo))
        self._metrics.renders.labels("warm").inc(len(todo))
        items = [(k, image) for (_, k), image in zip(todo, images, strict=True) if image]
        failures["render"] += len(todo) - len(items)
        rendered, last_error = 0, None
        for i in range(0, len(items), _WRITE_BATCH):
            batch = items[i : i + _WRITE_BATCH]
            store = functools.partial(
                self._cache.set_many, batch, variant=options.is_variant, bulk=True
            )
            try:
                await self._retry.call(store)
                rendered += len(batch)
            except CacheUnavailable as error:
                failures[error.reason] += len(batch)
                last_error = error
        return self._warmed(len(texts), already, rendered, failures, last_error)

    def _warmed(self, requested: int, already: int, rendered: int, failures: Counter[str],
                error: CacheUnavailable | None) -> WarmCounts:  # fmt: skip
        """Counts one batch in the metrics and, when something failed, in one log line."""
        failures = +failures  # drops the reasons that counted nothing
        failed = failures.total()
        for name, value in (("cached", already), ("rendered", rendered), ("failed", failed)):
            self._metrics.warm_texts.labels(name).inc(value)
        for reason, count in failures.items():
            self._metrics.warm_failures.labels(reason).inc(count)
        if failed:
            reasons = ", ".join(f"{reason} {count}" for reason, count in failures.most_common())
            cause = f"; the cache: {error}" if error is not None else ""
            log.warning("warm batch of %d: %d failed (%s)%s", requested, failed, reasons, cause)
        return WarmCounts(requested, already, rendered, failed, dict(failures))

    async def invalidate(self, text: str, options: RenderOptions) -> bool:
        return await self._cache.delete(render.cache_key(text, options))

    async def invalidate_all(self, text: str) -> int:
        """Drops every cached image of `text` (the default and each variant); returns how many."""
        if not text:
            raise InvalidOptions("text is empty")
        return await self._cache.delete_prefix(render.text_key_prefix(text))

    async def clear(self) -> int:
        return await self._cache.clear()

    async def stats(self) -> CacheStats:
        backend = self._metrics.backend.latest = await self._cache.backend_stats()
        counts = self._counts
        return CacheStats(backend, counts[Status.HIT], counts[Status.MISS], counts[Status.BYPASS])
