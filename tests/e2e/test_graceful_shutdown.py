"""Two image_service replicas behind one gateway: both serve, and SIGTERM on one under traffic
fails no request (it reports NOT_SERVING, refuses new calls and drains the ones it has)."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from tests.e2e.conftest import CLIENT_KEY, Stack, seed, stack_env
from tests.support import metrics
from tests.support.services import ServiceProcess, run_cli

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


def test_sigterm_on_one_of_two_replicas_fails_no_request(tmp_path, postgres, redis_server) -> None:
    env = stack_env(tmp_path, postgres.create_database(), redis_server.url)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    token_port = int(env["TOKEN_LISTEN_ADDR"].rpartition(":")[2])
    token = ServiceProcess("token_service", env, tmp_path, token_port).start()
    # No shared cache, so every request is a render on the replica that gets it.
    replica_env = {**env, "REDIS_URL": "", "IMAGE_RENDER_WORKERS": "1"}
    replicas = [ServiceProcess("image_service", replica_env, tmp_path).start() for _ in range(2)]
    env["IMAGE_SERVICE_ADDR"] = "ipv4:" + ",".join(r.address for r in replicas)
    gateway = ServiceProcess("gateway", env, tmp_path).start()
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def traffic() -> None:
        nonlocal served
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as http:
            i = 0
            while not stop.is_set():
                reply = http.get(
                    f"/v1/students/S{i % 30 + 1:05d}/qr.png", params={"scale": str(3 + i % 7)}
                )
                if reply.status_code != 200:
                    failures.append(f"{reply.status_code} {reply.text[:200]}")
                served += 1
                i += 1

    try:
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            seed(Stack(gateway.url, env, tmp_path, http))
        threads = [threading.Thread(target=traffic) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        counts = [
            metrics.value(
                f"http://127.0.0.1:{r.metrics_port}/metrics",
                "qrpass_image_renders_total",
                path="request",
            )
            for r in replicas
        ]
        assert all(count > 10 for count in counts), (
            f"round-robin did not reach both replicas: {counts}"
        )
        code = replicas[0].stop(signal.SIGTERM)  # drains, then exits
        assert code == 0
        served_after_stop = served
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert served - served_after_stop > 20, "traffic stopped with the replica"
        assert failures == []
    finally:
        stop.set()
        for process in (gateway, *replicas, token):
            process.stop()
