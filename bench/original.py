"""The baseline: the original system's cached route in Node.js (bench/node/original.js), started
on the same PostgreSQL and Redis as qrpass, with its Redis cache filled as its misses fill it."""

from __future__ import annotations

import statistics
import subprocess
import time
import urllib.request
from dataclasses import dataclass

import jwt
import redis

from bench.autocannon import NODE_DIR, ROOT, node_env
from tests.support.servers import free_port, wait_for_port

JWT_SECRET = "bench-original-shared-secret-0123456789"


@dataclass
class Original:
    """A running baseline: its port, process, the Bearer JWT it accepts, and render timings."""

    port: int
    process: subprocess.Popen
    auth_token: str
    render_seconds: list[float]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _render(port: int, token: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/render", data=token.encode(),
                                     headers={"Content-Type": "text/plain"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.read().decode()


def start(database_url: str, redis_url: str, tokens: dict[str, str], renders: int) -> Original:
    """Start the original, then fill its cache: `renders` real renders with its own qrcode
    options (timed: the cold-render baseline), each stored under as many students' keys as it
    takes to cover all of them. A hit's cost depends on the image's size, not its pixels."""
    port = free_port()
    env = node_env() | {
        "BASELINE_PORT": str(port),
        "BASELINE_DATABASE_URL": database_url.replace("postgresql+psycopg2://", "postgresql://"),
        "BASELINE_REDIS_URL": redis_url,
        "BASELINE_JWT_SECRET": JWT_SECRET,
    }
    process = subprocess.Popen(["node", str(ROOT / "bench" / "node" / "original.js")], env=env,
                               cwd=NODE_DIR, stdout=subprocess.DEVNULL)  # fmt: skip
    wait_for_port(port, 30, process)
    ids = list(tokens)
    samples, images = [], []
    for subject_id in ids[:renders]:
        start_time = time.perf_counter()
        images.append(_render(port, tokens[subject_id]))
        samples.append(time.perf_counter() - start_time)
    client = redis.Redis.from_url(redis_url)
    with client.pipeline(transaction=False) as pipe:
        for i, subject_id in enumerate(ids):
            pipe.set(f"qr:{tokens[subject_id]}", images[i % len(images)], ex=86400)
        pipe.execute()
    client.close()
    auth = jwt.encode({"sub": "mobile-backend", "role": "client"}, JWT_SECRET, algorithm="HS256")
    return Original(port, process, auth, samples)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
