"""`qrpass warm`, `stats`, `cache invalidate` and `cache clear` against real services, Redis and a Pushgateway."""

from __future__ import annotations

import random
import time

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
        # A section a kind, as the original printed, then the run's totals.
        lines = first.stdout.splitlines()
        assert lines[0].startswith("students: total 1500, cached 0, rendered 1500, failed 0, ")
        assert lines[1].startswith("stalls: total 20, cached 0, rendered 20, failed 0, ")
        assert "warm: total 1520, cached 0, rendered 1520, failed 0" in first.stdout
        assert "QR/s" in first.stdout
        # Each kind's progress bar, with its running rendered and failed counts.
        assert "students: 100%" in first.stderr and "1500/1500" in first.stderr
        assert "stalls: 100%" in first.stderr and "rendered=20, failed=0" in first.stderr

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


def test_warm_one_kind_in_small_batches_at_a_set_rate(start_token_service, tmp_path) -> None:
    tokens = start_token_service()
    tokens.import_csv(students_csv(10))
    tokens.import_csv(stalls_csv(20), STALL)
    image = ServiceProcess("image_service", base_env(tmp_path), tmp_path).start()
    env = {**base_env(tmp_path), "TOKEN_SERVICE_ADDR": tokens.service.address,
           "IMAGE_SERVICE_ADDR": image.address}  # fmt: skip
    try:
        started = time.monotonic()
        # 20 stalls in batches of 5 at 40 QR/s: the last batch may go 3 × 0.125 s after the first.
        paced = run_cli(["warm", "--kind", "stall", "--batch-size", "5", "--rate", "40"], env,
                        tmp_path)  # fmt: skip
        assert time.monotonic() - started >= 0.375
        assert paced.returncode == 0, paced.stderr
        assert "students" not in paced.stdout
        assert "stalls: total 20, cached 0, rendered 20, failed 0" in paced.stdout
        again = run_cli(["warm", "--quiet"], env, tmp_path)
        assert "stalls: total 20, cached 20, rendered 0" in again.stdout
        assert "students: total 10, cached 0, rendered 10" in again.stdout
        for wrong in (["--kind", "teacher"], ["--batch-size", "0"], ["--batch-size", "5001"],
                      ["--rate", "-1"], ["--rate", "fast"]):  # fmt: skip
            refused = run_cli(["warm", *wrong], env, tmp_path)
            assert refused.returncode == 2 and wrong[0] in refused.stderr, wrong
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
