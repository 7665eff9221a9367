"""Runs qrpass services as real processes (`python -m ...`) with an environment of the test's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def base_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """A clean environment: only what the test sets, plus what Python needs to run."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env.update(
        QRPASS_ENV="development",
        LOG_LEVEL="INFO",
        DATABASE_URL=f"sqlite:///{workdir}/qrpass.db",
        QRPASS_KEYS_DIR=str(workdir / "keys"),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


LEGACY_SECRET = "the-original-systems-shared-secret"
# 24 characters or more, as production requires.
CLIENT_KEY = "client-key-for-e2e-tests"
ADMIN_KEY = "admin-key-for-the-e2e-tests"
SCANNER_KEY = "scanner-key-for-e2e-tests"


def stack_env(workdir: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a whole stack on free loopback ports, as `qrpass up` would read it."""
    token_port, image_port = free_port(), free_port()
    return (
        base_env(
            workdir,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            GATEWAY_LISTEN_ADDR=f"127.0.0.1:{free_port()}",
            TOKEN_LISTEN_ADDR=f"127.0.0.1:{token_port}",
            IMAGE_LISTEN_ADDR=f"127.0.0.1:{image_port}",
            TOKEN_SERVICE_ADDR=f"127.0.0.1:{token_port}",
            IMAGE_SERVICE_ADDR=f"127.0.0.1:{image_port}",
            TOKEN_METRICS_PORT=str(free_port()),
            IMAGE_METRICS_PORT=str(free_port()),
            QRPASS_API_KEYS=CLIENT_KEY,
            QRPASS_ADMIN_API_KEYS=ADMIN_KEY,
            QRPASS_SCANNER_API_KEYS=SCANNER_KEY,
            QRPASS_LEGACY_JWT_SECRET=LEGACY_SECRET,
            IMAGE_RENDER_WORKERS="2",
        )
        | extra
    )


class ServiceProcess:
    """One service process with its own log file; `address` is its gRPC host:port."""

    def __init__(
        self, module: str, env: dict[str, str], workdir: Path, port: int | None = None
    ) -> None:
        self.module = module
        self.env = dict(env)
        self.workdir = workdir
        self.port = port or free_port()
        self.metrics_port = free_port()
        prefix = {"token_service": "TOKEN", "image_service": "IMAGE", "gateway": "GATEWAY"}[module]
        self.env[f"{prefix}_LISTEN_ADDR"] = f"127.0.0.1:{self.port}"
        if module != "gateway":  # the gateway serves /metrics on its own port
            self.env[f"{prefix}_METRICS_PORT"] = str(self.metrics_port)
        self.log_path = workdir / f"{module}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], env=self.env, cwd=self.workdir,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if self.module == "gateway":
            wait_http(f"{self.url}/healthz", timeout, self)
        else:
            wait_healthy(self.address, timeout, self)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int | None = None) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_healthy(address: str, timeout: float, service: ServiceProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if service is not None and not service.alive():
                raise RuntimeError(f"{service.module} exited at start:\n{service.logs()[-3000:]}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                logs = service.logs()[-3000:] if service else ""
                raise TimeoutError(f"{address} not healthy after {timeout}s\n{logs}")
            time.sleep(0.1)


def wait_http(url: str, timeout: float, service: ServiceProcess | None = None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if service is not None and not service.alive():
            raise RuntimeError(f"{service.module} exited at start:\n{service.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=0.5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not answering after {timeout}s")
        time.sleep(0.1)


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qrpass.cli.main", *args], env=env, cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
