"""`qrpass warm` through a Redis fault, on real services and a Redis of the test's own: a stall
in the middle is ridden out with nothing failed; a Redis that stays down ends the warm within
its bound, every failure counted by reason and explained."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis

from image_service.retry import BOUND_SECONDS
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as token_pb
from tests.conftest import students_csv
from tests.support import metrics
from tests.support.qr import decode_png
from tests.support.servers import RedisServer
from tests.support.services import REPO, ServiceProcess, base_env

STUDENTS = 10_000


@dataclass
class WarmRig:
    redis: RedisServer
    image: ServiceProcess
    env: dict[str, str]
    tokens: list[str]
    workdir: Path

    def keys(self) -> int:
        client = redis.Redis.from_url(self.redis.url, socket_timeout=1)
        try:
            return int(client.dbsize())
        finally:
            client.close()

    def start_warm(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "qrpass.cli.main", "warm", "--quiet"], env=self.env,
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def wait_for_keys(self, count: int, warm: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while self.keys() < count:
            assert warm.poll() is None, warm.communicate()
            assert time.monotonic() < deadline, f"the warm stored {self.keys()} images"
            time.sleep(0.05)


@pytest.fixture
def rig(start_token_service, tmp_path) -> Iterator[WarmRig]:
    tokens = start_token_service()
    tokens.stub.ImportSubjects(
        token_pb.ImportSubjectsRequest(kind=1, content=students_csv(STUDENTS)), timeout=60
    )
    own = RedisServer()
    own.start()
    image = ServiceProcess(
        "image_service", base_env(tmp_path, REDIS_URL=own.url, IMAGE_RENDER_WORKERS="2"), tmp_path
    ).start()
    env = {**base_env(tmp_path), "TOKEN_SERVICE_ADDR": tokens.service.address,
           "IMAGE_SERVICE_ADDR": image.address, "PYTHONPATH": str(REPO)}  # fmt: skip
    issued = [tokens.issue(f"S{i:05d}").token for i in random.sample(range(1, STUDENTS + 1), 20)]
    try:
        yield WarmRig(own, image, env, issued, tmp_path)
    finally:
        image.stop()
        own.cleanup()


def _cached_and_scannable(rig: WarmRig) -> None:
    with grpc.insecure_channel(rig.image.address) as channel:
        stub = image_grpc.ImageServiceStub(channel)
        for token in rig.tokens:
            reply = stub.RenderQrCode(image_pb.RenderQrCodeRequest(text=token), timeout=10)
            assert reply.cache_status == image_pb.CACHE_STATUS_HIT
            assert decode_png(reply.image) == token


@pytest.mark.parametrize("stall_seconds", [1.5, 7.0], ids=["stall-1.5s", "stall-past-timeouts"])
def test_a_redis_stall_in_the_middle_of_a_warm_fails_nothing(rig, stall_seconds) -> None:
    """1.5 s is a snapshot's fork or a managed failover; 7 s outlasts the warm's 5 s timeout, so
    its calls fail and are retried."""
    warm = rig.start_warm()
    rig.wait_for_keys(2_000, warm)
    assert rig.redis.process is not None
    rig.redis.process.send_signal(signal.SIGSTOP)
    time.sleep(stall_seconds)
    rig.redis.process.send_signal(signal.SIGCONT)
    out, err = warm.communicate(timeout=120)
    assert warm.returncode == 0, out + err
    assert f"warm: total {STUDENTS}, cached 0, rendered {STUDENTS}, failed 0," in out
    assert rig.keys() == STUDENTS
    _cached_and_scannable(rig)
    scraped = f"http://127.0.0.1:{rig.image.metrics_port}/metrics"
    assert metrics.value(scraped, "qrpass_image_warm_texts_total", result="rendered") == STUDENTS
    assert metrics.value(scraped, "qrpass_image_warm_texts_total", result="failed") == 0


def test_a_redis_that_stays_down_ends_the_warm_within_its_bound_and_says_why(rig) -> None:
    warm = rig.start_warm()
    rig.wait_for_keys(2_000, warm)
    rig.redis.stop()  # killed, and not started again
    killed = time.monotonic()
    out, err = warm.communicate(timeout=BOUND_SECONDS + 60)
    took = time.monotonic() - killed
    assert warm.returncode == 1
    assert took < BOUND_SECONDS + 20, took  # the bound, plus a batch's render and timeouts

    summary = re.search(r"warm: total (\d+), cached 0, rendered (\d+), failed (\d+) \((.*?)\)", out)
    assert summary is not None, out
    total, rendered, failed = (int(summary.group(i)) for i in (1, 2, 3))
    assert total == STUDENTS and rendered >= 2_000 and rendered + failed == STUDENTS
    reasons = dict(
        (name, int(count))
        for name, count in (part.rsplit(" ", 1) for part in summary.group(4).split(", "))
    )
    assert sum(reasons.values()) == failed
    assert set(reasons) <= {"connection", "timeout"}, reasons  # a dead Redis: refused or silent
    assert f"{failed} image(s) failed to render or store ({summary.group(4)})" in err

    # Counted by reason where it happened, and logged once a batch (never a line an image).
    scraped = f"http://127.0.0.1:{rig.image.metrics_port}/metrics"
    for reason, count in reasons.items():
        assert metrics.value(scraped, "qrpass_image_warm_failures_total", reason=reason) == count
    lines = [line for line in rig.image.logs().splitlines() if "warm batch of" in line]
    assert 1 <= len(lines) <= STUDENTS // 1000, lines
    assert all(re.search(r"\d+ failed \((connection|timeout) \d+", line) for line in lines), lines
    assert not any(token in rig.image.logs() for token in rig.tokens)
