"""Two replicas of every service and two gateways, as two pods of each would run, and the mixed
load a gate morning sends them; shared by the rolling-restart test and `make bench`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench.loadgen import Call, MixedResult, balanced_open_loop
from tests.support.services import (
    ADMIN_KEY,
    CLIENT_KEY,
    SCANNER_KEY,
    ServiceProcess,
    run_cli,
    stack_env,
)


class Fleet:
    """Token and image services twice each, every client dialing both (`ipv4:a,b`, gRPC's
    round robin, as `dns:///` does over a headless Service), and two gateways."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str, **extra: str) -> None:
        # One client sends the whole load: no per-client rate limit.
        env = stack_env(workdir, database_url, redis_url,
                        **{"QRPASS_RATE_LIMIT_PER_MINUTE": "0"} | extra)  # fmt: skip
        if run_cli(["db", "upgrade"], env, workdir).returncode != 0:
            raise RuntimeError("qrpass db upgrade failed")
        self.tokens = [ServiceProcess("token_service", env, workdir) for _ in range(2)]
        self.images = [ServiceProcess("image_service", env, workdir) for _ in range(2)]
        env["TOKEN_SERVICE_ADDR"] = "ipv4:" + ",".join(t.address for t in self.tokens)
        env["IMAGE_SERVICE_ADDR"] = "ipv4:" + ",".join(i.address for i in self.images)
        self.gateways = [ServiceProcess("gateway", env, workdir) for _ in range(2)]
        self.env, self.workdir = env, workdir

    @property
    def processes(self) -> list[ServiceProcess]:
        """In the order a rolling restart takes them: back ends first, then the gateways."""
        return [*self.tokens, *self.images, *self.gateways]

    @property
    def targets(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", gateway.port) for gateway in self.gateways]

    def start(self) -> Fleet:
        for process in self.processes:
            process.start()
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def restart_each(self, pause: float, stop: Callable[[], bool] = lambda: False) -> list[float]:
        """SIGTERM each process in turn and start it again on its port, `pause` seconds apart
        once it is healthy again; the seconds each took to come back."""
        took = []
        for process in self.processes:
            if stop():
                break
            time.sleep(pause)
            start = time.monotonic()
            process.stop()  # SIGTERM: drain, then exit
            process.start(timeout=60)
            took.append(time.monotonic() - start)
        return took

    def roll(self, morning: GateMorning, seconds: float, pause: float
             ) -> tuple[MixedResult, list[float]]:  # fmt: skip
        """The morning's load for `seconds` through both gateways while every process is
        restarted in turn (`restart_each`); the load's result and the restarts' seconds."""
        restarted: list[float] = []
        load_over = threading.Event()
        restarts = threading.Thread(
            target=lambda: restarted.extend(self.restart_each(pause, stop=load_over.is_set))
        )
        restarts.start()
        try:
            result = asyncio.run(
                balanced_open_loop(self.targets, morning.call, morning.rate, seconds)
            )
        finally:
            load_over.set()
            restarts.join(timeout=120)
        return result, restarted

    def run_cli(self, *args: str) -> None:
        result = run_cli(list(args), self.env, self.workdir, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"qrpass {' '.join(args)} failed: {result.stderr[-2000:]}")

    def __enter__(self) -> Fleet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def students_csv(count: int) -> bytes:
    lines = ["id,registration_no,name,email"]
    lines += [f"S{i:05d},R{i:07d},Student {i},s{i}@campus.edu" for i in range(1, count + 1)]
    return ("\n".join(lines) + "\n").encode()


def seed(fleet: Fleet, students: int) -> dict[str, str]:
    """Imports `students` and warms their passes; every student's current token."""
    url = fleet.gateways[0].url
    admin = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "text/csv"}
    reply = httpx.post(f"{url}/v1/admin/import/students", headers=admin,
                       content=students_csv(students), timeout=120)  # fmt: skip
    reply.raise_for_status()
    fleet.run_cli("warm")
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
        return {f"S{i:05d}": http.get(f"/v1/students/S{i:05d}/qr").json()["qr_token"]
                for i in range(1, students + 1)}  # fmt: skip


class GateMorning:
    """A steady mix, by rate per second: pass opens and verifications of most students,
    check-ins each with its own scan_id, and rotations of a few students kept apart (so every
    other token stays current). `call(i)` is request i of the mix."""

    def __init__(self, tokens: dict[str, str], rates: dict[str, int], rotated: int = 5) -> None:
        ids = sorted(tokens)
        self.rotated, self.steady = ids[:rotated], ids[rotated:]
        self.tokens = tokens
        # Each kind spread evenly over the second: its j-th call at (j + 0.5) / rate.
        slots = sorted(
            ((j + 0.5) / rate, kind) for kind, rate in rates.items() for j in range(rate)
        )
        self.pattern = [kind for _, kind in slots]
        self.rate = len(self.pattern)

    def call(self, i: int) -> Call:
        kind = self.pattern[i % self.rate]
        subject = self.steady[i % len(self.steady)]
        if kind == "open":
            return Call(kind, "GET", f"/v1/students/{subject}/qr", CLIENT_KEY)
        if kind == "verify":
            body = json.dumps({"token": self.tokens[subject]})
            return Call(kind, "POST", "/v1/verify", CLIENT_KEY, body)
        if kind == "checkin":
            body = json.dumps({"token": self.tokens[subject], "gate": "North",
                               "direction": ("in", "out")[i // self.rate % 2],
                               "scan_id": f"morning-{i}"})  # fmt: skip
            return Call(kind, "POST", "/v1/checkins", SCANNER_KEY, body)
        rotated = self.rotated[i // self.rate % len(self.rotated)]
        return Call(kind, "POST", f"/v1/admin/students/{rotated}/qr:rotate", ADMIN_KEY)


def acknowledged_scans(result: MixedResult) -> Counter[str]:
    """How many times each check-in's scan_id was answered 2xx."""
    return Counter(json.loads(c.body)["scan_id"] for c in result.answered if c.kind == "checkin")


def ledger_scan_ids(url: str) -> Iterator[str]:
    """Every scan_id in the check-in ledger, page by page."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    page = ""
    with httpx.Client(base_url=url, headers=admin, timeout=30) as http:
        while True:
            reply = http.get("/v1/admin/scans", params={"page_size": 1000, "page_token": page})
            reply.raise_for_status()
            yield from (scan["scan_id"] for scan in reply.json()["scans"])
            page = reply.json()["next_page_token"]
            if not page:
                return
