"""Each service as its own process, so a test can kill one: 503s in time, then recovery by itself."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, stack_env
from tests.support.qr import decode_png
from tests.support.services import ServiceProcess, run_cli

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def _wait_status(http: httpx.Client, path: str, status: int, within: float) -> float:
    start = time.monotonic()
    while True:
        reply = http.get(path, headers=AUTH)
        if reply.status_code == status:
            return time.monotonic() - start
        assert time.monotonic() - start < within, (path, reply.status_code, reply.text)
        time.sleep(0.1)


@pytest.mark.parametrize("victim", ["image", "token"])
def test_killed_backend_gives_503_then_recovers_without_touching_gateway(split, victim) -> None:
    assert split.http.get("/v1/students/S00001/qr", headers=AUTH).status_code == 200
    getattr(split, victim).stop(signal.SIGKILL)

    if victim == "image":  # a pass in the gateway's near-cache needs no backend
        cached = split.http.get("/v1/students/S00001/qr", headers=AUTH)
        assert cached.status_code == 200 and cached.json()["cached"] is True
        body = cached.json()
        assert decode_png(base64.b64decode(body["qr_image"].split(",", 1)[1])) == body["qr_token"]
    # Uncached for the image service; for the token service, the broken change stream turns the
    # near-cache off (within its 2 s heartbeat bound, at once when the connection resets).
    path = "/v1/students/S00003/qr" if victim == "image" else "/v1/students/S00001/qr"
    assert _wait_status(split.http, path, 503, within=3) < 3
    start = time.monotonic()
    reply = split.http.get(path, headers=AUTH)
    assert time.monotonic() - start < 5
    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/problem+json"
    assert f"{victim}_service is unavailable" in reply.json()["detail"]
    # The 503 is logged by the route's template; a raw path would log the subject id.
    logs = split.gateway.logs()
    assert "GET /v1/{kind}/{id}/qr: " in logs and path.split("/")[3] not in logs

    ready = split.http.get("/readyz")
    assert ready.status_code == 200  # a backend outage does not take the gateway out
    assert ready.json()["backends"][f"{victim}_service"].startswith("unavailable")
    if victim == "image":
        token = split.http.get("/v1/students/S00002/qr", headers=AUTH)  # needs images: 503
        assert token.status_code == 503
        verdict = split.http.post("/v1/verify", headers=AUTH, json={"token": "a.b.c"})
        assert verdict.status_code == 200 and verdict.json()["error"] == "malformed"
        doctor = run_cli(["doctor"], split.token.env, split.token.workdir, timeout=120)
        assert doctor.returncode == 1
        assert "❌ image_service health" in doctor.stdout
        assert "✅ token_service health" in doctor.stdout

    split.restart(victim)
    assert _wait_status(split.http, "/v1/students/S00001/qr", 200, within=15) < 15
    body = split.http.get("/v1/students/S00001/qr", headers=AUTH).json()
    assert decode_png(base64.b64decode(body["qr_image"].split(",", 1)[1])) == body["qr_token"]
    assert split.gateway.alive()


def test_rate_limit_gives_429_with_retry_after(tmp_path, postgres, redis_server) -> None:
    env = stack_env(
        tmp_path, "sqlite:///unused.db", redis_server.url, QRPASS_RATE_LIMIT_PER_MINUTE="5"
    )
    gateway = ServiceProcess("gateway", env, tmp_path).start()
    try:
        with httpx.Client(base_url=gateway.url) as http:
            statuses = [http.get("/v1/students/S1/qr", headers=AUTH).status_code for _ in range(5)]
            assert 429 not in statuses  # the backends are down: 503s, but within the limit
            limited = http.get("/v1/students/S1/qr", headers=AUTH)
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.headers["content-type"] == "application/problem+json"
            other = http.get("/v1/students/S1/qr", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert other.status_code != 429  # the limit is per key
    finally:
        gateway.stop()


def test_production_up_refuses_without_keys_and_prints_no_secret(tmp_path) -> None:
    # A mesh does mTLS, so the only settings missing are the keys this test is about.
    env = stack_env(
        tmp_path, f"sqlite:///{tmp_path}/q.db", "redis://127.0.0.1:1/0",
        QRPASS_ENV="production", QRPASS_GRPC_PLAINTEXT="mesh",
    )  # fmt: skip
    del env["QRPASS_API_KEYS"], env["QRPASS_ADMIN_API_KEYS"]
    result = subprocess.run(
        [sys.executable, "-m", "qrpass.cli.main", "up"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "QRPASS_ADMIN_API_KEYS" in output or "no Ed25519 keys" in output
    assert "development client key" not in output
    assert not (tmp_path / "data" / "client_api_key").exists()
