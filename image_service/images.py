"""The image book: cache-first rendering with single flight, warming, invalidation and stats."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from image_service import render
from image_service.cache import BackendStats, CacheUnavailable
from image_service.errors import InvalidOptions
from image_service.metrics import ImageMetrics
from image_service.render import RenderOptions
from qrpass.vocabulary import MAX_WARM_BATCH

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
    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False
    ) -> None: ...
    async def exists_many(self, keys: Sequence[str], *, variant: bool = False) -> list[bool]: ...
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
    """What one warm batch did."""

    requested: int
    already_cached: int
    rendered: int
    failed: int


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

    def __init__(self, cache: Cache, pool: Renderer, metrics: ImageMetrics) -> None:
        self._cache = cache
        self._pool = pool
        self._metrics = metrics
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
        """Render and store what is not cached yet. With the cache down, every text fails."""
        if len(texts) > MAX_WARM_BATCH:
            raise InvalidOptions(f"a warm batch holds at most {MAX_WARM_BATCH} texts")
        unique = list(dict.fromkeys(t for t in texts if t))
        keys = [render.cache_key(t, options) for t in unique]
        failed = sum(1 for t in texts if not t)
        duplicates = len(texts) - failed - len(unique)  # done once, counted as already cached
        try:
            cached = await self._cache.exists_many(keys, variant=options.is_variant)
        except CacheUnavailable:
            self._metrics.warm_texts.labels("failed").inc(len(texts))
            return WarmCounts(len(texts), 0, 0, len(texts))
        todo = [(t, k) for t, k, hit in zip(unique, keys, cached, strict=True) if not hit]
        already = len(unique) - len(todo) + duplicates
        self._metrics.renders_in_flight.inc(len(todo))
        try:
            images = await self._pool.render_many([t for t, _ in todo], options)
        finally:
            self._metrics.renders_in_flight.dec(len(todo))
        items = [(k, image) for (_, k), image in zip(todo, images, strict=True) if image]
        failed += len(todo) - len(items)
        rendered = 0
        for i in range(0, len(items), _WRITE_BATCH):
            batch = items[i : i + _WRITE_BATCH]
            try:
                await self._cache.set_many(batch, variant=options.is_variant)
                rendered += len(batch)
            except CacheUnavailable:
                failed += len(batch)
        self._metrics.renders.labels("warm").inc(len(todo))
        for name, value in (("cached", already), ("rendered", rendered), ("failed", failed)):
            self._metrics.warm_texts.labels(name).inc(value)
        return WarmCounts(len(texts), already, rendered, failed)

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
