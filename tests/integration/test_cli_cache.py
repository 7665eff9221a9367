"""`qrpass warm`, `stats`, `cache invalidate` and `cache clear` against real services, Redis and a Pushgateway."""

from __future__ import annotations

import random

import grpc

from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as token_pb
from tests.conftest import STALL, STUDENT, stalls_csv, students_csv
from tests.support import metrics
from tests.support.qr import decode_png
from tests.support.services import ServiceProcess, base_env, run_cli


def test_warm_stats_clear_and_push(
    start_token_service, redis_server, pushgateway, tmp_path
) -> None:
    tokens = start_token_service("postgres")
    tokens.stub.ImportSubjects(
        token_pb.ImportSubjectsRequest(kind=STUDENT, content=students_csv(1500, prefix="W")),
        timeout=60,
    )
    tokens.import_csv(stalls_csv(20), STALL)
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/5"  # a database of its own: exact counts
    image = ServiceProcess(
        "image_service", base_env(tmp_path, REDIS_URL=redis_url), tmp_path
    ).start()
    env = {**base_env(tmp_path), "TOKEN_SERVICE_ADDR": tokens.service.address,
           "IMAGE_SERVICE_ADDR": image.address}  # fmt: skip
    try:
        first = run_cli(["warm", "--pushgateway", pushgateway.url], env, tmp_path)
        assert first.returncode == 0, first.stderr
        assert "total 1520, cached 0, rendered 1520, failed 0" in first.stdout
        assert "QR/s" in first.stdout and "1520/1520" in first.stderr  # the progress bar

        second = run_cli(["warm", "--quiet"], env, tmp_path)
        assert second.returncode == 0
        assert "cached 1520, rendered 0, failed 0" in second.stdout

        # Every pass is now a hit, and the cached image scans as the subject's token.
        with grpc.insecure_channel(image.address) as channel:
            stub = image_grpc.ImageServiceStub(channel)
            for subject_id in random.sample([f"W{i:05d}" for i in range(1, 1501)], 25):
                token = tokens.issue(subject_id).token
                reply = stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=token))
                assert reply.cache_status == image_pb.CACHE_STATUS_HIT
                assert decode_png(reply.image) == token

        pushed = f"{pushgateway.url}/metrics"
        assert metrics.value(pushed, "qrpass_warm_rendered", job="qrpass_warm", instance="") == 1520
        assert metrics.value(pushed, "qrpass_warm_failed", job="qrpass_warm", instance="") == 0
        success = metrics.value(
            pushed, "qrpass_warm_last_success_timestamp_seconds", job="qrpass_warm", instance=""
        )
        assert success > 1.7e9

        stats = run_cli(["stats"], env, tmp_path)
        assert stats.returncode == 0
        assert "backend      redis (connected)" in stats.stdout
        assert "entries      1520" in stats.stdout

        # One pass's images, its default and a variant, dropped by its token.
        with grpc.insecure_channel(image.address) as channel:
            stub = image_grpc.ImageServiceStub(channel)
            token = tokens.issue("W00007").token
            variant = image_pb.RenderOptions(scale=3)
            stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=token, options=variant))
            dropped = run_cli(["cache", "invalidate", token], env, tmp_path)
            assert dropped.returncode == 0, dropped.stderr
            assert "deleted 2 cached image(s)" in dropped.stdout
            reply = stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=token))
            assert reply.cache_status == image_pb.CACHE_STATUS_MISS
            assert decode_png(reply.image) == token

        cleared = run_cli(["cache", "clear"], env, tmp_path)
        assert cleared.returncode == 0 and "deleted 1520" in cleared.stdout
    finally:
        image.stop()


def test_warm_fails_with_exit_1_when_a_service_is_down(start_token_service, tmp_path) -> None:
    tokens = start_token_service()
    tokens.import_csv(students_csv(10))
    env = {**base_env(tmp_path), "TOKEN_SERVICE_ADDR": tokens.service.address,
           "IMAGE_SERVICE_ADDR": "127.0.0.1:1"}  # fmt: skip
    result = run_cli(["warm", "--quiet"], env, tmp_path)
    assert result.returncode == 1
    assert "unavailable" in result.stderr
