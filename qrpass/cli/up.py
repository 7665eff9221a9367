"""`qrpass up`: run all three services as child processes until Ctrl-C, then stop them cleanly."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import grpc

from gateway.settings import listen_addr as gateway_listen_addr
from qrpass.core.clients import ServiceClient, Targets
from qrpass.core.config import CommonSettings, ConfigError, Env
from qrpass.vocabulary import STALL, STUDENT, Kind
from token_service.settings import database_url

SERVICES = ("token_service", "image_service", "gateway")
START_TIMEOUT_SECONDS = 30.0
DATA_DIR = Path("data")


def _dev_api_keys(env: dict[str, str]) -> tuple[str, str] | None:
    """In development with no API keys configured, make (or reuse) a client and an admin key."""
    configured = ("QRPASS_API_KEYS", "QRPASS_API_KEYS_FILE", "QRPASS_ADMIN_API_KEYS")
    if any(env.get(name) for name in (*configured, "QRPASS_ADMIN_API_KEYS_FILE")):
        return None
    DATA_DIR.mkdir(exist_ok=True)
    keys = []
    for name, prefix in (("client_api_key", "qpc_"), ("admin_api_key", "qpa_")):
        path = DATA_DIR / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(prefix + secrets.token_urlsafe(24) + "\n")
        keys.append(path.read_text().strip())
    env["QRPASS_API_KEYS_FILE"] = str(DATA_DIR / "client_api_key")
    env["QRPASS_ADMIN_API_KEYS_FILE"] = str(DATA_DIR / "admin_api_key")
    return keys[0], keys[1]


class ServiceExited(Exception):
    """A service process ended while `qrpass up` was starting or running it."""


def _check_alive(processes: list[subprocess.Popen[bytes]]) -> None:
    for name, process in zip(SERVICES, processes, strict=True):
        if process.poll() is not None:
            raise ServiceExited(f"{name} exited with code {process.returncode}; see its log above")


async def _wait_serving(
    connect: Callable[[], ServiceClient], deadline: float, processes: list[subprocess.Popen[bytes]]
) -> None:
    async with connect() as client:
        while True:
            _check_alive(processes)
            if await client.health(timeout=1) == "serving":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {client.name} did not become healthy")
            await asyncio.sleep(0.2)


def _wait_ready(url: str, deadline: float, processes: list[subprocess.Popen[bytes]]) -> None:
    """Until the gateway's /readyz says it reaches every backend: "up" means the whole path works
    (a gateway that started first is still backing off its first connections for a moment)."""
    while True:
        _check_alive(processes)
        try:
            # The URL is http://127.0.0.1:<port>/readyz, built by `up` itself (bandit B310).
            with urllib.request.urlopen(url, timeout=1) as reply:  # nosec B310
                backends = json.load(reply).get("backends", {})
                if backends and all(status == "serving" for status in backends.values()):
                    return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not report every backend serving")
        time.sleep(0.1)


def demo_csv(kind: Kind, count: int) -> bytes:
    if kind == STUDENT:
        rows = ["id,registration_no,name,email"]
        rows += [
            f"S{i:04d},REG{2026000 + i},Student {i},student{i}@example.edu"
            for i in range(1, count + 1)
        ]
    else:
        rows = ["id,stall_number,name"]
        rows += [f"T{i:03d},A-{i:02d},Stall {i}" for i in range(1, count + 1)]
    return ("\n".join(rows) + "\n").encode()


async def _seed_if_empty(targets: Targets) -> None:
    async with targets.token_client() as tokens:
        for kind, count in ((STUDENT, 50), (STALL, 10)):
            page = await tokens.list_tokens(kind, page_size=1)
            if page.total_size == 0:
                await tokens.import_subjects(kind, demo_csv(kind, count), timeout=60)
                print(f"seeded {count} demo {kind.plural}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


# On one machine the gRPC services need no network: only the gateway listens beyond loopback.
LOOPBACK_LISTEN = {
    "TOKEN_LISTEN_ADDR": "127.0.0.1:50051",
    "IMAGE_LISTEN_ADDR": "127.0.0.1:50052",
}


def up_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What the three services get: the caller's settings over loopback listen addresses."""
    return {**LOOPBACK_LISTEN, **environ}


def up(args: argparse.Namespace) -> int:
    env = up_environment(os.environ)
    try:
        settings = Env(env)
        production = CommonSettings.from_env(settings).production
        gateway_addr = gateway_listen_addr(settings)
        targets = Targets.from_env(settings)
        url = database_url(settings)
    except ConfigError as error:
        print(f"qrpass up: configuration error: {error}", file=sys.stderr)
        return 2
    keys = None if production else _dev_api_keys(env)
    from token_service.migrations import upgrade  # Alembic: 0.25 s to import, so only here

    upgrade(url)

    processes = [subprocess.Popen([sys.executable, "-m", name], env=env) for name in SERVICES]
    processes_to_stop: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    port = gateway_addr.rpartition(":")[2]
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        asyncio.run(_wait_serving(targets.token_client, deadline, processes))
        asyncio.run(_wait_serving(targets.image_client, deadline, processes))
        _wait_ready(f"http://127.0.0.1:{port}/readyz", deadline, processes)
        if args.seed_demo:
            asyncio.run(_seed_if_empty(targets))
    except (TimeoutError, ServiceExited, grpc.aio.AioRpcError) as error:
        print(f"qrpass up: {error}", file=sys.stderr)
        _stop(processes)
        return 1
    print(f"qrpass is up: http://127.0.0.1:{port} (token {targets.token}, image {targets.image})")
    if keys is not None:
        client, admin = keys
        print(f"development client key: {client}\ndevelopment admin key:  {admin}")
        auth = f"-H 'Authorization: Bearer {client}'"
        print(f"try:\n  curl -s {auth} http://127.0.0.1:{port}/v1/students/S0001/qr")
        print(
            f"  curl -s {auth} -H 'Content-Type: application/json' "
            f'-d \'{{"token": "<qr_token from above>"}}\' http://127.0.0.1:{port}/v1/verify'
        )
    if not args.no_warm:  # as the original did at start-up; the services serve meanwhile
        command = [sys.executable, "-m", "qrpass.cli.main", "warm", "--quiet"]
        warm = subprocess.Popen(command, env=env)
        processes_to_stop.append(warm)
        print("warming the image cache in the background", flush=True)
    print("Ctrl-C stops all three.", flush=True)
    while not stopping:
        try:
            _check_alive(processes)
        except ServiceExited as error:
            print(f"qrpass up: {error}; stopping the others", file=sys.stderr)
            _stop(processes)
            return 1
        time.sleep(0.2)
    _stop(processes_to_stop + processes)
    return 0
