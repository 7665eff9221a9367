"""Faults under steady traffic, through the whole stack: Redis killed or paused, PostgreSQL
stopped. Every scenario uses servers of its own, so the shared ones stay healthy.

The gateway's near-cache is off here (GATEWAY_NEAR_CACHE_MB=0): it would answer every pass
itself and hide what these tests are about, how the services behave when a store is gone."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import redis

from tests.e2e.conftest import ADMIN_KEY, CLIENT_KEY, Stack, seed, stack_env
from tests.support.servers import PostgresServer, RedisServer
from tests.support.services import ServiceProcess, run_cli

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


@dataclass
class Traffic:
    """Background requests for passes, recording (time, status, latency, cached)."""

    url: str
    samples: list[tuple[float, int, float, bool | None]] = field(default_factory=list)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # every token seen per subject
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=10) as http:
            i = 0
            while not self._stop.is_set():
                start = time.monotonic()
                subject = f"S{(i % 30) + 1:05d}"
                reply = http.get(f"/v1/students/{subject}/qr")
                cached = reply.json().get("cached") if reply.status_code == 200 else None
                if reply.status_code == 200:
                    self.tokens.setdefault(subject, set()).add(reply.json()["qr_token"])
                self.samples.append((start, reply.status_code, time.monotonic() - start, cached))
                i += 1
                time.sleep(0.01)

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def between(self, start: float, end: float) -> list[tuple[float, int, float, bool | None]]:
        return [s for s in self.samples if start <= s[0] < end]


@dataclass
class OwnStack:
    """A stack whose Redis and PostgreSQL belong to one test."""

    redis: RedisServer
    postgres: PostgresServer
    processes: list[ServiceProcess]
    url: str


@pytest.fixture
def own_stack(tmp_path) -> Iterator[OwnStack]:
    own_redis, own_pg = RedisServer(), PostgresServer()
    own_redis.start()
    own_pg.start()
    env = stack_env(tmp_path, own_pg.create_database(), own_redis.url, GATEWAY_NEAR_CACHE_MB="0")
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0

    def port(name: str) -> int:
        return int(env[name].rpartition(":")[2])

    processes = [
        ServiceProcess("token_service", env, tmp_path, port("TOKEN_LISTEN_ADDR")).start(),
        ServiceProcess("image_service", env, tmp_path, port("IMAGE_LISTEN_ADDR")).start(),
        ServiceProcess("gateway", env, tmp_path).start(),
    ]
    url = processes[2].url
    with httpx.Client(base_url=url, timeout=10) as http:
        seed(Stack(url, env, tmp_path, http))
    assert run_cli(["warm", "--quiet"], env, tmp_path).returncode == 0
    yield OwnStack(own_redis, own_pg, processes, url)
    for process in reversed(processes):
        process.stop()
    own_redis.cleanup()
    own_pg.cleanup()


def test_redis_killed_for_10s_every_request_succeeds_and_hits_return(own_stack) -> None:
    with Traffic(own_stack.url) as traffic:
        time.sleep(2)
        down = time.monotonic()
        own_stack.redis.stop()
        time.sleep(10)
        up = time.monotonic()
        own_stack.redis.start()
        deadline = up + 15
        while time.monotonic() < deadline:
            recent = traffic.between(time.monotonic() - 1, time.monotonic())
            if recent and all(s[3] for s in recent):
                break
            time.sleep(0.2)
        time.sleep(1)
    assert traffic.samples and all(s[1] == 200 for s in traffic.samples), "a pass request failed"
    outage = traffic.between(down + 0.5, up)
    assert len(outage) > 50
    assert not any(s[3] for s in outage)  # nothing claims a cache hit while Redis is gone
    latencies = sorted(s[2] for s in outage)
    assert latencies[int(len(latencies) * 0.99)] < 0.25, "requests paid Redis timeouts"
    hits_again = [s for s in traffic.between(up, up + 15) if s[3]]
    assert hits_again, "no cache hit within 15 s of Redis returning"
    assert all(p.alive() for p in own_stack.processes)


def test_paused_redis_still_serves_passes_within_the_deadline(own_stack) -> None:
    client = redis.Redis.from_url(own_stack.redis.url)
    with Traffic(own_stack.url) as traffic:
        time.sleep(1)
        start = time.monotonic()
        client.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        time.sleep(4)
    client.close()
    during = traffic.between(start, start + 2)
    assert during and all(s[1] == 200 for s in traffic.samples)
    assert max(s[2] for s in during) < 5.0  # the gateway's deadline
    assert statistics.median(s[2] for s in during) < 0.5


def test_postgres_down_20s_the_gate_keeps_working_and_writes_wait(own_stack) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=own_stack.url, headers=AUTH, timeout=10) as http:
        tokens = {i: http.get(f"/v1/students/S{i:05d}/qr").json()["qr_token"] for i in (1, 2)}
        with Traffic(own_stack.url) as traffic:
            time.sleep(1)
            down = time.monotonic()
            own_stack.postgres.stop()
            verdicts, writes = [], set()
            while time.monotonic() - down < 20:
                verdicts.append(http.post("/v1/verify", json={"token": tokens[1]}))
                rotate = http.post("/v1/admin/students/S00002/qr:rotate", headers=admin)
                writes.add((rotate.status_code, rotate.json()["detail"]))
                time.sleep(0.5)
            up = time.monotonic()
            own_stack.postgres.start()
            deadline = up + 30
            while (
                http.post("/v1/admin/students/S00002/qr:rotate", headers=admin).status_code != 200
            ):
                assert time.monotonic() < deadline, "writes did not work within 30 s of the return"
                time.sleep(0.5)
        outage = traffic.between(down, up)
        assert len(outage) > 50
        assert all(s[1] == 200 for s in traffic.samples), "a pass failed during the outage"
        # The same token throughout, for every subject but the one rotated after the return.
        assert all(
            len(seen) == 1 for subject, seen in traffic.tokens.items() if subject != "S00002"
        )
        assert all(v.status_code == 200 and v.json()["valid"] is True for v in verdicts)
        assert verdicts[0].json()["registration_no"] == "R0000001"  # identity from memory
        assert writes == {(503, "the database is unavailable; retry shortly")}
        stale = http.post("/v1/verify", json={"token": tokens[2]}).json()
        assert stale["valid"] is False and stale["error"] == "revoked"
