"""ImageService against the memory cache, a real Redis and a real three-master Redis Cluster."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest
import redis

from qrpass.image.v1 import image_service_pb2 as pb
from qrpass.image.v1 import image_service_pb2_grpc as pb_grpc
from tests.support import metrics
from tests.support.qr import decode
from tests.support.services import ServiceProcess, base_env

HIT, MISS, BYPASS = pb.CACHE_STATUS_HIT, pb.CACHE_STATUS_MISS, pb.CACHE_STATUS_BYPASS


class RunningImageService:
    """An image service process and a real channel to it."""

    def __init__(self, service: ServiceProcess, backend: str, redis_url: str | None) -> None:
        self.service = service
        self.backend = backend
        self.redis_url = redis_url
        self.channel = grpc.insecure_channel(service.address)
        self.stub = pb_grpc.ImageServiceStub(self.channel)
        self.metrics_url = f"http://127.0.0.1:{service.metrics_port}/metrics"

    def render(self, text: str, **options) -> pb.RenderQrCodeResponse:
        request = pb.RenderQrCodeRequest(text=text, options=pb.RenderOptions(**options))
        return self.stub.RenderQrCode(request)

    def redis(self) -> redis.Redis:
        assert self.redis_url is not None
        if self.backend == "redis-cluster":
            return redis.RedisCluster.from_url(self.redis_url)
        return redis.Redis.from_url(self.redis_url)

    def close(self) -> None:
        self.channel.close()
        self.service.stop()


def start_image_service(
    tmp_path, backend: str, redis_url: str | None, **env
) -> RunningImageService:
    overrides = {"IMAGE_RENDER_WORKERS": "2", **env}
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    if backend == "redis-cluster":
        overrides["REDIS_CLUSTER"] = "true"
    service = ServiceProcess("image_service", base_env(tmp_path, **overrides), tmp_path).start()
    return RunningImageService(service, backend, redis_url)


@pytest.fixture(scope="module", params=["memory", "redis", "redis-cluster"])
def image_service(request, tmp_path_factory) -> Iterator[RunningImageService]:
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    elif request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster").url
    client = start_image_service(tmp_path_factory.mktemp(request.param), request.param, url)
    yield client
    client.close()


def _text() -> str:
    return f"pass-{uuid.uuid4().hex}"


def test_miss_then_hit_and_the_image_scans(image_service: RunningImageService) -> None:
    text = _text()
    first = image_service.render(text)
    assert first.cache_status == MISS
    assert first.content_type == "image/png"
    assert decode(first.image, first.content_type) == text
    second = image_service.render(text)
    assert second.cache_status == HIT
    assert second.image == first.image
    assert second.etag == first.etag and first.etag.startswith('"')


def test_png_at_default_options_is_small(image_service: RunningImageService) -> None:
    token = "eyJhbGciOiJFZERTQSIsImtpZCI6ImRldjI2MTEyMTcyODQifQ." + "x" * 200
    image = image_service.render(token).image
    assert decode(image, "image/png") == token
    assert len(image) <= 2500


def test_options_are_part_of_the_key(image_service: RunningImageService) -> None:
    text = _text()
    plain = image_service.render(text)
    variants = [
        dict(scale=3),
        dict(border=0),
        dict(error_correction=pb.ERROR_CORRECTION_LEVEL_H),
        dict(dark_color="#1a237e", light_color="#fffde7"),
        dict(format=pb.IMAGE_FORMAT_SVG),
    ]
    seen = {plain.etag}
    for options in variants:
        response = image_service.render(text, **options)
        assert response.cache_status == MISS, options
        assert decode(response.image, response.content_type) == text
        seen.add(response.etag)
    assert len(seen) == len(variants) + 1
    assert image_service.render(text, format=pb.IMAGE_FORMAT_SVG).cache_status == HIT


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (dict(scale=0), "scale"),
        (dict(scale=2), "at least 3 pixels per module"),
        (dict(scale=200), "4096 px"),
        (dict(border=21), "border"),
        (dict(dark_color="black"), "dark colour"),
        (dict(light_color="#12345"), "light colour"),
        (dict(dark_color="#000000", light_color="#000000"), "contrast ratio of at least 3:1"),
        (dict(dark_color="#ffffff", light_color="#000000"), "darker than light"),
        (dict(error_correction=9), "ec level"),
        (dict(format=7), "format"),
    ],
)
def test_bad_options_are_invalid_argument_naming_the_option(image_service, options, words) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        image_service.render("text", **options)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in raised.value.details()


def test_text_beyond_a_version_40_symbol_is_invalid_argument(
    image_service: RunningImageService,
) -> None:
    for text in ("x" * 3000, "x" * 10_000):
        with pytest.raises(grpc.RpcError) as raised:
            image_service.render(text, error_correction=pb.ERROR_CORRECTION_LEVEL_H)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "does not fit" in raised.value.details() or "longer" in raised.value.details()
    with pytest.raises(grpc.RpcError) as raised:
        image_service.render("")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_single_flight_renders_once_for_200_concurrent_misses(
    image_service: RunningImageService,
) -> None:
    text = _text()
    before = metrics.value(image_service.metrics_url, "qrpass_image_renders_total", path="request")

    async def burst() -> list[pb.RenderQrCodeResponse]:
        async with grpc.aio.insecure_channel(image_service.service.address) as channel:
            stub = pb_grpc.ImageServiceStub(channel)
            request = pb.RenderQrCodeRequest(text=text)
            return await asyncio.gather(*(stub.RenderQrCode(request) for _ in range(200)))

    responses = asyncio.run(burst())
    after = metrics.value(image_service.metrics_url, "qrpass_image_renders_total", path="request")
    assert after - before == 1
    assert len({r.image for r in responses}) == 1
    assert decode(responses[0].image, "image/png") == text


def test_invalidate_drops_one_image(image_service: RunningImageService) -> None:
    text = _text()
    image_service.render(text)
    image_service.render(text, scale=4)
    request = pb.InvalidateQrCodeRequest(text=text, options=pb.RenderOptions())
    assert image_service.stub.InvalidateQrCode(request).deleted
    assert not image_service.stub.InvalidateQrCode(request).deleted
    assert image_service.render(text).cache_status == MISS
    assert image_service.render(text, scale=4).cache_status == HIT


def test_invalidate_all_drops_every_variant_of_one_pass(image_service: RunningImageService) -> None:
    """The original's clearQRCache(token): the default image and each variant, nothing else."""
    text, other = _text(), _text()
    variants = [{}, {"scale": 4}, {"format": pb.IMAGE_FORMAT_SVG}]
    for options in variants:
        image_service.render(text, **options)
    image_service.render(other)
    reply = image_service.stub.InvalidateQrCodes(pb.InvalidateQrCodesRequest(text=text))
    assert reply.deleted == len(variants)
    for options in variants:
        again = image_service.render(text, **options)
        assert again.cache_status == MISS
        assert decode(again.image, again.content_type) == text
    assert image_service.render(other).cache_status == HIT
    with pytest.raises(grpc.RpcError) as empty:
        image_service.stub.InvalidateQrCodes(pb.InvalidateQrCodesRequest(text=""))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_entries_count_only_our_images_in_a_shared_redis(tmp_path, redis_server) -> None:
    """DBSIZE would count every key; the stats and /metrics count qrpass's images only."""
    url = redis_server.url.rsplit("/", 1)[0] + "/6"  # its own database: exact counts
    client = start_image_service(tmp_path, "redis", url)
    db = client.redis()
    try:
        db.mset({f"someone-else:{i}": b"x" for i in range(30)})
        texts = [_text() for _ in range(50)]
        client.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts))
        stats = client.stub.GetCacheStats(pb.GetCacheStatsRequest())
        assert (stats.entries, db.dbsize()) == (50, 80)
        assert stats.memory_bytes > 0 and stats.replica == socket.gethostname()
        url = client.metrics_url
        assert metrics.value(url, "qrpass_image_cache_entries", backend="redis") == 50
        assert metrics.value(url, "qrpass_image_cache_memory_bytes", backend="redis") > 0
    finally:
        db.close()
        client.close()


def test_warm_is_idempotent_and_counts(image_service: RunningImageService) -> None:
    texts = [_text() for _ in range(300)]
    image_service.render(texts[0])
    first = image_service.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts))
    assert (first.requested, first.already_cached, first.rendered, first.failed) == (300, 1, 299, 0)
    second = image_service.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts))
    assert (second.already_cached, second.rendered, second.failed) == (300, 0, 0)
    response = image_service.render(texts[123])
    assert response.cache_status == HIT
    assert decode(response.image, response.content_type) == texts[123]


def test_stats_count_hits_and_misses(image_service: RunningImageService) -> None:
    before = image_service.stub.GetCacheStats(pb.GetCacheStatsRequest())
    text = _text()
    image_service.render(text)
    image_service.render(text)
    image_service.render(text)
    after = image_service.stub.GetCacheStats(pb.GetCacheStatsRequest())
    assert after.backend == image_service.backend
    assert after.connected
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 1)
    assert after.entries >= 1 and after.memory_bytes > 0
    assert 0 < after.hit_ratio <= 1


def test_clear_on_every_backend(image_service: RunningImageService) -> None:
    texts = [_text() for _ in range(50)]
    image_service.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts))
    assert image_service.stub.ClearCache(pb.ClearCacheRequest()).deleted >= 50
    assert image_service.stub.GetCacheStats(pb.GetCacheStatsRequest()).entries == 0
    assert image_service.render(texts[7]).cache_status == MISS


def test_clear_drops_everything(tmp_path, redis_server) -> None:
    # Its own Redis database, so the count is exact while other tests use database 0.
    url = redis_server.url.rsplit("/", 1)[0] + "/3"
    client = start_image_service(tmp_path, "redis", url)
    db = client.redis()
    try:
        texts = [_text() for _ in range(2500)]  # more than one SCAN/UNLINK batch
        client.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts))
        db.set("qr:image:v1:" + "0" * 64, b"an image under the previous key layout")
        db.set("someone-else:key", b"not ours")
        assert client.stub.ClearCache(pb.ClearCacheRequest()).deleted == 2501
        assert client.stub.ClearCache(pb.ClearCacheRequest()).deleted == 0
        assert db.get("someone-else:key") == b"not ours"
        assert client.render(texts[0]).cache_status == MISS
    finally:
        db.close()
        client.close()


def test_ttl_is_set_with_jitter_and_renewed_on_hit(tmp_path, redis_server) -> None:
    from image_service.render import RenderOptions, cache_key

    client = start_image_service(tmp_path, "redis", redis_server.url, QR_CACHE_TTL_SECONDS="1000")
    db = client.redis()
    try:
        text = _text()
        assert client.render(text).cache_status == MISS
        key = cache_key(text, RenderOptions())
        assert 900 - 2 <= db.ttl(key) <= 1100
        db.expire(key, 30)
        assert client.render(text).cache_status == HIT
        assert db.ttl(key) >= 900 - 2
    finally:
        db.close()
        client.close()


def test_redis_outage_bypasses_then_recovers_without_restart(tmp_path) -> None:
    from tests.support.servers import RedisServer

    own = RedisServer()
    own.start()
    client = start_image_service(tmp_path, "redis", own.url)
    try:
        text = _text()
        assert client.render(text).cache_status == MISS
        own.stop()
        for _ in range(20):  # every request still succeeds, rendered directly
            response = client.render(text)
            assert response.cache_status == BYPASS
            assert decode(response.image, response.content_type) == text
        stats = client.stub.GetCacheStats(pb.GetCacheStatsRequest())
        assert not stats.connected and stats.bypasses >= 20
        assert metrics.value(client.metrics_url, "qrpass_redis_circuit_state") in (1.0, 2.0)
        own.start()  # the same port, empty: the outage lost the data
        deadline = time.monotonic() + 15
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(client.render(text).cache_status)
            if statuses[-1] == HIT:
                break
            time.sleep(0.2)
        assert statuses[-1] == HIT, statuses
        assert client.service.alive()
        # The outage is logged once as it starts and once as it ends, not at every probe.
        logs = client.service.logs()
        assert logs.count("redis unreachable; passes are rendered without the cache") == 1
        assert logs.count("redis reachable again; caching resumes") == 1
    finally:
        client.close()
        own.stop()


def _render_workers(service_pid: int) -> list[int]:
    """The render workers: children of the service's forkserver process."""
    import subprocess

    def children(pid: int) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    return [worker for child in children(service_pid) for worker in children(child)]


def test_a_killed_render_worker_is_replaced(tmp_path) -> None:
    import os
    import signal

    client = start_image_service(tmp_path, "memory", None)
    try:
        workers = _render_workers(client.service.process.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        statuses = []
        for _ in range(20):  # a job held by the dead worker may fail once, with UNAVAILABLE
            try:
                text = _text()
                reply = client.render(text)
                assert decode(reply.image, reply.content_type) == text
                statuses.append("ok")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                statuses.append("retry")
        assert statuses.count("ok") >= 19
        deadline = time.monotonic() + 10
        while len(_render_workers(client.service.process.pid)) != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert workers[0] not in _render_workers(client.service.process.pid)
        warm = client.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=[_text() for _ in range(200)]))
        assert warm.rendered == 200
    finally:
        client.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_flood_of_variants_never_evicts_a_warmed_default(tmp_path, backend) -> None:
    """Warm, then request thousands of option variants: every default pass still hits."""
    from tests.support.servers import RedisServer

    server = None
    if backend == "redis":  # a small Redis under memory pressure, with the policy docs ask for
        server = RedisServer(("--maxmemory", "3mb", "--maxmemory-policy", "volatile-ttl",
                              "--maxmemory-samples", "10"))  # fmt: skip
        server.start()
    client = start_image_service(tmp_path, backend, server.url if server else None,
                                 QR_CACHE_MEMORY_BYTES=str(3 * 1024 * 1024))  # fmt: skip
    try:
        texts = [f"default-pass-{i:04d}-" + "x" * 150 for i in range(600)]
        warmed = client.stub.WarmQrCodes(pb.WarmQrCodesRequest(texts=texts), timeout=60)
        assert warmed.rendered == len(texts)
        # Variants: a few kilobytes each, many times the cache's room in all.
        for i in range(1500):
            variant = client.render(f"variant-{i}-" + "y" * 150, scale=10, dark_color="#102030")
            assert variant.cache_status in (MISS, BYPASS)
        if server is not None:
            assert client.redis().info("stats")["evicted_keys"] > 0  # the pressure was real
        # What an SRE watches: evictions and the limit, in the stats and on /metrics.
        stats = client.stub.GetCacheStats(pb.GetCacheStatsRequest())
        assert stats.evictions > 0 and stats.max_memory_bytes == 3 * 1024 * 1024
        labels = {"backend": backend}
        url = client.metrics_url
        assert metrics.value(url, "qrpass_image_cache_evictions_total", **labels) > 0
        assert metrics.value(url, "qrpass_image_cache_max_memory_bytes", **labels) == 3 * 1024**2
        # Redis evicts by sampling (maxmemory-samples), so volatile-ttl is nearly, not exactly,
        # shortest-TTL-first: allow 1% of defaults to be re-rendered. With the variants' TTL set
        # to the passes' own, about half of the defaults go.
        missed = []
        for text in texts:
            reply = client.render(text)
            if reply.cache_status != HIT:
                missed.append(text)
            assert decode(reply.image, reply.content_type) == text
        assert len(missed) <= len(texts) // 100, missed[:3]
        assert backend == "redis" or not missed  # the memory cache's share is exact
    finally:
        client.close()
        if server is not None:
            server.stop()


def test_messages_past_the_service_cap_are_refused(tmp_path) -> None:
    """The image service takes at most 4 MiB a message (a warm batch needs about 1.3 MB)."""
    client = start_image_service(tmp_path, "memory", None)
    try:
        oversized = pb.WarmQrCodesRequest(texts=["x" * 4000] * 1100)  # about 4.4 MB
        with pytest.raises(grpc.RpcError) as refused:
            client.stub.WarmQrCodes(oversized, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert client.render("still serving").cache_status == MISS
    finally:
        client.close()


def test_an_expired_deadline_is_counted_as_deadline_exceeded(
    image_service: RunningImageService,
) -> None:
    """Twenty cold renders of large symbols at once queue behind two workers, so calls with a
    50 ms deadline expire inside the server; its metrics must say DEADLINE_EXCEEDED, not
    CANCELLED (an alert watches for it)."""
    url, name = image_service.metrics_url, "grpc_server_handled_total"
    labels = dict(grpc_type="unary", grpc_service="qrpass.image.v1.ImageService",
                  grpc_method="RenderQrCode")  # fmt: skip
    expired_before = metrics.value(url, name, grpc_code="DEADLINE_EXCEEDED", **labels)
    options = pb.RenderOptions(scale=12, error_correction=pb.ERROR_CORRECTION_LEVEL_H)
    calls = [
        image_service.stub.RenderQrCode.future(
            pb.RenderQrCodeRequest(text=_text() + "x" * 1200, options=options), timeout=0.05
        )
        for _ in range(20)
    ]
    codes = []
    for call in calls:
        try:
            call.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
    assert grpc.StatusCode.DEADLINE_EXCEEDED in codes

    def expired() -> float:
        return metrics.value(url, name, grpc_code="DEADLINE_EXCEEDED", **labels)

    deadline = time.monotonic() + 15
    while expired() == expired_before and time.monotonic() < deadline:
        time.sleep(0.1)
    # Before, every such call was CANCELLED.
    assert expired() > expired_before
