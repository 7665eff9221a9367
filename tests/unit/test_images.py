"""The image book over the in-process cache, with rendering inline: cache-first, single flight,
warming, invalidation, statistics, and what happens when the cache is down. No processes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from image_service import render
from image_service.cache import BackendStats, CacheUnavailable, MemoryCache
from image_service.errors import InvalidOptions
from image_service.images import ImageBook, Status
from image_service.metrics import ImageMetrics
from image_service.pool import _render_chunk
from image_service.retry import WarmRetry
from qrpass.vocabulary import MAX_WARM_BATCH
from tests.support.clock import FakeTime
from tests.support.qr import decode as decode_both

# `make check` runs without Debian's libzbar0: here zxing-cpp reads alone; the integration tests
# read every image with zbar too.
decode = functools.partial(decode_both, zbar=False)

PNG = render.DEFAULT_OPTIONS
SVG = render.RenderOptions.checked(format="svg")


class InlineRenderer:
    """The service's rendering code, run in this process; counts what it was asked to do."""

    def __init__(self, delay: float = 0.0) -> None:
        self.renders: list[str] = []
        self._delay = delay

    async def render(self, text: str, options: render.RenderOptions) -> bytes:
        self.renders.append(text)
        await asyncio.sleep(self._delay)  # long enough for concurrent callers to pile up
        return render.render(text, options)

    async def render_many(
        self, texts: Sequence[str], options: render.RenderOptions
    ) -> list[bytes | None]:
        self.renders.extend(texts)
        return _render_chunk(texts, options)


class DownCache:
    """A cache backend that is unreachable, as the Redis backend reports it with the breaker open."""

    name = "redis"

    async def get(self, key: str, *, variant: bool = False) -> bytes | None:
        raise CacheUnavailable("down", "connection")

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False, bulk: bool = False
    ) -> None:
        raise CacheUnavailable("down", "connection")

    async def exists_many(
        self, keys: Sequence[str], *, variant: bool = False, bulk: bool = False
    ) -> list[bool]:
        raise CacheUnavailable("down", "connection")

    async def delete(self, key: str) -> bool:
        raise CacheUnavailable("down")

    async def delete_prefix(self, prefix: str) -> int:
        raise CacheUnavailable("down")

    async def clear(self) -> int:
        raise CacheUnavailable("down")

    async def backend_stats(self) -> BackendStats:
        return BackendStats(self.name, False, 0, 0)


def _book(
    cache: object | None = None, delay: float = 0.0, metrics: ImageMetrics | None = None
) -> tuple[ImageBook, InlineRenderer]:
    renderer = InlineRenderer(delay)
    time = FakeTime()
    book = ImageBook(
        cache or MemoryCache(3600),  # type: ignore[arg-type]
        renderer,
        metrics or ImageMetrics(CollectorRegistry()),
        WarmRetry(clock=time.clock, sleep=time.sleep),
    )
    return book, renderer


def test_a_miss_renders_and_the_next_request_hits() -> None:
    book, renderer = _book()

    async def twice() -> tuple[render.RenderOptions, ...]:
        return (await book.get("S00001.pass", PNG), await book.get("S00001.pass", PNG))

    first, second = asyncio.run(twice())
    assert (first.status, second.status) == (Status.MISS, Status.HIT)
    assert first.data == second.data and first.etag == second.etag
    assert decode(second.data, second.content_type) == "S00001.pass"
    assert renderer.renders == ["S00001.pass"]


def test_options_are_part_of_the_key() -> None:
    book, renderer = _book()

    async def both() -> tuple[object, object]:
        return await book.get("text", PNG), await book.get("text", SVG)

    png, svg = asyncio.run(both())
    assert png.status == svg.status == Status.MISS
    assert png.etag != svg.etag
    assert decode(svg.data, svg.content_type) == decode(png.data, png.content_type) == "text"
    assert len(renderer.renders) == 2


def test_concurrent_misses_on_one_key_share_a_single_render() -> None:
    book, renderer = _book(delay=0.05)

    async def crowd() -> list[object]:
        return await asyncio.gather(*(book.get("crowd", PNG) for _ in range(50)))

    images = asyncio.run(crowd())
    assert renderer.renders == ["crowd"]
    assert {image.status for image in images} == {Status.MISS}
    assert decode(images[0].data, "image/png") == "crowd"


def test_with_the_cache_down_images_are_rendered_and_marked_bypass() -> None:
    book, renderer = _book(DownCache())

    async def twice() -> list[object]:
        return [await book.get("x", PNG), await book.get("x", PNG)]

    images = asyncio.run(twice())
    assert [image.status for image in images] == [Status.BYPASS, Status.BYPASS]
    assert decode(images[1].data, "image/png") == "x"
    assert renderer.renders == ["x", "x"]


def test_an_empty_text_is_refused() -> None:
    book, _ = _book()
    with pytest.raises(InvalidOptions, match="empty"):
        asyncio.run(book.get("", PNG))


def test_warm_renders_only_what_is_missing_and_counts_the_rest() -> None:
    book, renderer = _book()

    async def warm() -> tuple[object, object]:
        await book.get("a", PNG)
        first = await book.warm(["a", "b", "b", "", "c"], PNG)
        second = await book.warm(["a", "b", "c"], PNG)
        return first, second

    first, second = asyncio.run(warm())
    assert (first.requested, first.already_cached, first.rendered, first.failed) == (5, 2, 2, 1)
    assert (second.already_cached, second.rendered, second.failed) == (3, 0, 0)
    assert sorted(renderer.renders) == ["a", "b", "c"]


def test_warm_with_the_cache_down_fails_every_text_by_reason() -> None:
    registry = CollectorRegistry()
    book, renderer = _book(DownCache(), metrics=ImageMetrics(registry))
    counts = asyncio.run(book.warm(["a", "b", ""], PNG))
    assert (counts.rendered, counts.failed) == (0, 3)
    assert counts.failures == {"connection": 2, "empty_text": 1}
    assert renderer.renders == []
    failures = "qrpass_image_warm_failures_total"
    assert registry.get_sample_value(failures, {"reason": "connection"}) == 2
    assert registry.get_sample_value(failures, {"reason": "empty_text"}) == 1


class FlakyCache(MemoryCache):
    """A cache whose bulk writes fail `failures` times (a stall, a reset), then work."""

    def __init__(self, failures: int) -> None:
        super().__init__(3600)
        self.failures_left = failures
        self.bulk_calls = 0

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False, bulk: bool = False
    ) -> None:
        self.bulk_calls += bulk
        if self.failures_left:
            self.failures_left -= 1
            raise CacheUnavailable("redis: TimeoutError", "timeout")
        await super().set_many(items, variant=variant)


def test_a_warm_rides_out_a_transient_fault_and_fails_nothing() -> None:
    cache = FlakyCache(failures=4)
    book, _ = _book(cache)
    counts = asyncio.run(book.warm(["a", "b", "c"], PNG))
    assert (counts.rendered, counts.failed, counts.failures) == (3, 0, {})
    assert cache.bulk_calls == 5  # four failures, then the write that took
    assert asyncio.run(book.get("b", PNG)).status == Status.HIT


def test_a_fault_that_needs_an_operator_is_not_retried() -> None:
    cache = FlakyCache(failures=1)

    async def full(*args: object, **kwargs: object) -> None:
        cache.bulk_calls += 1
        raise CacheUnavailable("redis: OutOfMemoryError", "out_of_memory", transient=False)

    cache.set_many = full  # type: ignore[method-assign]
    book, _ = _book(cache)
    counts = asyncio.run(book.warm(["a", "b"], PNG))
    assert (counts.rendered, counts.failures) == (0, {"out_of_memory": 2})
    assert cache.bulk_calls == 1


def test_a_text_too_long_for_a_qr_code_fails_alone_in_a_warm() -> None:
    book, _ = _book()
    counts = asyncio.run(book.warm(["fits", "9" * 8000], PNG))
    assert (counts.rendered, counts.failed, counts.failures) == (1, 1, {"render": 1})


def test_a_warm_batch_has_a_limit() -> None:
    book, _ = _book()
    with pytest.raises(InvalidOptions, match=str(MAX_WARM_BATCH)):
        asyncio.run(book.warm(["x"] * (MAX_WARM_BATCH + 1), PNG))


def test_invalidate_drops_one_image_and_clear_drops_all() -> None:
    book, _ = _book()

    async def scenario() -> tuple[bool, bool, Status, int]:
        await book.warm(["a", "b"], PNG)
        dropped = await book.invalidate("a", PNG)
        again = await book.invalidate("a", PNG)
        status = (await book.get("b", PNG)).status
        cleared = await book.clear()
        return dropped, again, status, cleared

    assert asyncio.run(scenario()) == (True, False, Status.HIT, 1)


def test_invalidate_all_drops_every_variant_of_one_text_and_nothing_else() -> None:
    book, _ = _book()
    variants = [PNG, render.RenderOptions(scale=3), render.RenderOptions(format="svg")]

    async def scenario() -> tuple[int, list[Status], Status, int]:
        for options in variants:
            await book.get("a", options)
        await book.get("b", PNG)
        dropped = await book.invalidate_all("a")
        after = [(await book.get("a", options)).status for options in variants]
        return dropped, after, (await book.get("b", PNG)).status, await book.invalidate_all("c")

    dropped, after, other, none = asyncio.run(scenario())
    assert dropped == len(variants) and none == 0
    assert after == [Status.MISS] * len(variants) and other == Status.HIT


def test_invalidate_all_refuses_empty_text_and_says_when_the_cache_is_down() -> None:
    with pytest.raises(InvalidOptions, match="empty"):
        asyncio.run(_book()[0].invalidate_all(""))
    with pytest.raises(CacheUnavailable):
        asyncio.run(_book(DownCache())[0].invalidate_all("a"))


def test_cache_keys_of_one_text_share_its_prefix_and_etags_differ() -> None:
    keys = {render.cache_key("a", options) for options in
            (PNG, render.RenderOptions(scale=3), render.RenderOptions(format="svg"))}  # fmt: skip
    assert len(keys) == 3 and all(k.startswith(render.text_key_prefix("a")) for k in keys)
    assert not render.cache_key("b", PNG).startswith(render.text_key_prefix("a"))
    assert len({render.etag_for(k) for k in keys}) == 3


def test_stats_count_this_process_lookups_and_the_backend_entries() -> None:
    book, _ = _book()

    async def scenario() -> object:
        for _ in range(3):
            await book.get("a", PNG)
        await book.get("b", PNG)
        return await book.stats()

    stats = asyncio.run(scenario())
    assert (stats.hits, stats.misses, stats.bypasses) == (2, 2, 0)
    assert stats.hit_ratio == 0.5
    assert stats.backend.entries == 2 and stats.backend.memory_bytes > 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(100, clock=clock)

    async def scenario() -> list[object]:
        await cache.set_many([("k", b"v")])
        seen = [await cache.get("k"), await cache.exists_many(["k"])]
        clock.now += 111  # past the TTL and its 10% jitter
        seen += [await cache.get("k"), await cache.exists_many(["k"])]
        return seen

    assert asyncio.run(scenario()) == [b"v", [True], None, [False]]


def test_a_hit_renews_the_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(100, clock=clock)

    async def scenario() -> bytes | None:
        await cache.set_many([("k", b"v")])
        for _ in range(5):  # 400 s in all, each step inside the TTL
            clock.now += 80
            assert await cache.get("k") == b"v"
        return await cache.get("k")

    assert asyncio.run(scenario()) == b"v"


def test_the_lru_is_bounded_by_bytes_and_drops_the_least_recent() -> None:
    cache = MemoryCache(3600, max_bytes=400)  # 350 bytes for default images, 50 for variants

    async def scenario() -> list[bytes | None]:
        await cache.set_many([("a", b"1" * 100), ("b", b"2" * 100), ("c", b"3" * 100)])
        await cache.get("a")  # a is now the most recent
        await cache.set_many([("d", b"4" * 100)])
        return [await cache.get(key) for key in "abcd"]

    assert asyncio.run(scenario()) == [b"1" * 100, None, b"3" * 100, b"4" * 100]


def test_variants_cannot_push_a_default_image_out() -> None:
    cache = MemoryCache(3600, max_bytes=8 * 1000)

    async def scenario() -> tuple[bytes | None, int]:
        await cache.set_many([("pass", b"p" * 100)])
        for i in range(500):
            await cache.set_many([(f"variant{i}", b"v" * 100)], variant=True)
        stats = await cache.backend_stats()
        return await cache.get("pass"), stats.memory_bytes

    kept, memory = asyncio.run(scenario())
    assert kept == b"p" * 100
    assert memory <= 100 + 1000  # the variants stay inside their eighth


def test_delete_finds_a_key_in_either_tier() -> None:
    cache = MemoryCache(3600)

    async def scenario() -> list[bool]:
        await cache.set_many([("v", b"x")], variant=True)
        return [await cache.delete("v"), await cache.delete("v")]

    assert asyncio.run(scenario()) == [True, False]


def test_the_memory_cache_reports_its_limit_and_counts_evictions() -> None:
    cache = MemoryCache(3600, max_bytes=8 * 1000)  # 7,000 bytes for defaults, 1,000 for variants

    async def fill() -> object:
        await cache.set_many([(f"k{i}", b"x" * 1000) for i in range(10)])
        return await cache.backend_stats()

    stats = asyncio.run(fill())
    assert stats.max_memory_bytes == 8000 and stats.memory_bytes <= 7000
    assert (stats.entries, stats.evictions) == (7, 3)
