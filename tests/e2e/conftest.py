"""The whole system as `qrpass up` runs it, against the session's real PostgreSQL and Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import stalls_csv, students_csv
from tests.support.services import (
    ADMIN_KEY,
    CLIENT_KEY,
    ServiceProcess,
    run_cli,
    stack_env,
)


@dataclass
class Stack:
    """A running system: its gateway URL, its environment and an HTTP client."""

    url: str
    env: dict[str, str]
    workdir: Path
    http: httpx.Client

    def get(self, path: str, key: str | None = CLIENT_KEY, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.get(path, headers=headers, **kwargs)

    def request(
        self, method: str, path: str, key: str | None = CLIENT_KEY, **kwargs
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kwargs)


def seed(stack: Stack) -> None:
    for kind, content in (("students", students_csv(30)), ("stalls", stalls_csv(5))):
        reply = stack.request(
            "POST", f"/v1/admin/import/{kind}", ADMIN_KEY, content=content,
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres, redis_server) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    env = stack_env(workdir, postgres.create_database(), redis_server.url.rsplit("/", 1)[0] + "/7")
    log = (workdir / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "qrpass.cli.main", "up"], env=env, cwd=workdir,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://{env['GATEWAY_LISTEN_ADDR']}"
    try:
        deadline = time.monotonic() + 60
        while "qrpass is up" not in (workdir / "up.log").read_text():
            assert up.poll() is None, (workdir / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "qrpass up did not come up in 60 s"
            time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=10) as http:
            running = Stack(url, env, workdir, http)
            seed(running)
            yield running
    finally:
        up.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert up.wait(timeout=30) == 0, (workdir / "up.log").read_text()[-3000:]


@dataclass
class SplitStack:
    """Three separately started processes sharing one environment."""

    token: ServiceProcess
    image: ServiceProcess
    gateway: ServiceProcess
    http: httpx.Client

    def restart(self, name: str) -> None:
        """Start the service again at the same address, as a restarted pod keeps its DNS name."""
        old: ServiceProcess = getattr(self, name)
        setattr(self, name, ServiceProcess(old.module, old.env, old.workdir, old.port).start())


@pytest.fixture
def split(tmp_path, postgres, redis_server) -> Iterator[SplitStack]:
    env = stack_env(tmp_path, postgres.create_database(), redis_server.url)
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0

    def port(name: str) -> int:
        return int(env[name].rpartition(":")[2])

    token = ServiceProcess("token_service", env, tmp_path, port("TOKEN_LISTEN_ADDR")).start()
    image = ServiceProcess("image_service", env, tmp_path, port("IMAGE_LISTEN_ADDR")).start()
    gateway = ServiceProcess("gateway", env, tmp_path).start()
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        stack = SplitStack(token, image, gateway, http)
        seed(Stack(gateway.url, env, tmp_path, http))
        yield stack
    for process in (stack.gateway, stack.image, stack.token):
        process.stop()
