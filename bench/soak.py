"""`python -m bench.soak` (`make soak`): the gate morning's mixed load for SOAK_MINUTES (10 by
default) on the fleet of tests/support/fleet.py, with churn beside it: imports of new students,
deletions, cache clears, rotations, one Redis restart and one token-service restart. Reports per
process its RSS and open descriptors at the start, after 2 minutes and at the end, the errors
and the near-cache hit ratio, into bench/results-soak.json (or $SOAK_RESULTS).

Holds when: 0 errors, each process's RSS at the end within 10 % of its figure after 2 minutes
(for the restarted replica, 2 minutes after its restart), and its descriptors flat."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import cpu, first_open, report
from bench.loadgen import MixedResult, balanced_open_loop
from tests.support.fleet import Fleet, GateMorning, seed
from tests.support.servers import PostgresServer, RedisServer
from tests.support.services import ADMIN_KEY, ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
MINUTES = int(os.environ.get("SOAK_MINUTES", "10"))
RATES = {"open": 150, "verify": 30, "checkin": 10, "rotate": 1}  # per second
STUDENTS = 5_000
CHURN_EVERY_SECONDS = 10
CHURN_BATCH = 50  # students imported, and deleted two rounds later, each churn round
SETTLE_MINUTES = 2  # growth is measured from here: caches and pools are full by then
RSS_GROWTH_BOUND = 0.10
FD_SLACK = 5  # "flat": a few descriptors come and go with connections


@dataclass
class Sample:
    minute: float
    pid: int
    rss_mb: float
    fds: int


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def sample(process: ServiceProcess, minute: float) -> Sample:
    """RSS and descriptors of the process and the workers it started (the image service's)."""
    assert process.process is not None
    pids = cpu.tree(process.process.pid)
    rss = sum(first_open.rss_mb(pid) for pid in pids if Path(f"/proc/{pid}").exists())
    return Sample(minute, process.process.pid, rss, sum(_fds(pid) for pid in pids))


@dataclass
class Churn:
    """What an operator's day does beside the crowd, every CHURN_EVERY_SECONDS, through the
    gateway's admin routes; each answer that is not 2xx counts as an error."""

    url: str
    errors: list[str] = field(default_factory=list)
    rounds: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _round(self, http: httpx.Client) -> None:
        first = 900_000 + self.rounds * CHURN_BATCH
        rows = ["id,registration_no,name,email"] + [
            f"C{i},RC{i},Churn {i},c{i}@campus.edu" for i in range(first, first + CHURN_BATCH)
        ]
        replies = [http.post("/v1/admin/import/students", content="\n".join(rows) + "\n",
                             headers={"Content-Type": "text/csv"})]  # fmt: skip
        replies += [http.get(f"/v1/students/C{first}/qr")]  # a first open: a cold render
        if self.rounds >= 2:  # the batch imported two rounds ago leaves
            gone = first - 2 * CHURN_BATCH
            replies += [http.delete(f"/v1/admin/students/C{i}")
                        for i in range(gone, gone + CHURN_BATCH)]  # fmt: skip
        if self.rounds % 6 == 5:  # about once a minute
            replies.append(http.delete("/v1/admin/cache"))
        self.errors += [f"{r.request.method} {r.request.url.path}: {r.status_code}"
                        for r in replies if r.status_code >= 300]  # fmt: skip
        self.rounds += 1

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=120) as http:
            while not self._stop.wait(CHURN_EVERY_SECONDS):
                try:
                    self._round(http)
                except httpx.HTTPError as error:
                    self.errors.append(f"churn: {type(error).__name__}")

    def __enter__(self) -> Churn:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=180)


def _events(redis_server: RedisServer, fleet: Fleet) -> dict[int, tuple[str, Callable[[], None]]]:
    """By minute: the outages the soak rides out."""

    def restart_redis() -> None:
        redis_server.stop()  # SIGKILL, as a lost node
        time.sleep(2)
        redis_server.start()

    def restart_token() -> None:
        fleet.tokens[1].stop()  # SIGTERM, as a rolled pod
        fleet.tokens[1].start(timeout=60)

    return {max(1, MINUTES * 2 // 5): ("Redis killed and restarted", restart_redis),
            max(2, MINUTES * 3 // 5): ("token service 2 restarted", restart_token)}  # fmt: skip


def _verdict(samples: list[Sample], restarted_at: float | None) -> dict:
    since = (restarted_at or 0) + SETTLE_MINUTES
    settled = next((s for s in samples if s.minute >= since and s.pid == samples[-1].pid), None)
    start, end = samples[0], samples[-1]
    figures = {"start": [round(start.rss_mb, 1), start.fds], "end": [round(end.rss_mb, 1), end.fds]}
    if settled is None or settled is end:
        return figures | {"settled": None, "growth": None, "holds": None}
    growth = end.rss_mb / settled.rss_mb - 1
    holds = growth <= RSS_GROWTH_BOUND and end.fds <= settled.fds + FD_SLACK
    return figures | {"settled": [round(settled.rss_mb, 1), settled.fds, settled.minute],
                      "growth": round(growth, 4), "holds": holds}  # fmt: skip


def run(workdir: Path) -> dict:
    postgres, redis_server = PostgresServer(), RedisServer()
    postgres.start()
    redis_server.start()
    try:
        with Fleet(workdir, postgres.create_database(), redis_server.url) as fleet:
            names = ["token 1", "token 2", "image 1", "image 2", "gateway 1", "gateway 2"]
            processes = dict(zip(names, fleet.processes, strict=True))
            print(f"seeding {STUDENTS} students and warming", file=sys.stderr, flush=True)
            morning = GateMorning(seed(fleet, STUDENTS), RATES)
            samples = {name: [sample(p, 0)] for name, p in processes.items()}
            lookups = [first_open.lookups(g.url) for g in fleet.gateways]
            events, happened = _events(redis_server, fleet), {}
            load = MixedResult()
            with Churn(fleet.gateways[0].url) as churn:
                for minute in range(MINUTES):
                    if minute in events:
                        what, do = events[minute]
                        threading.Thread(target=do, daemon=True).start()
                        happened[what] = minute
                    chunk = asyncio.run(
                        balanced_open_loop(fleet.targets, morning.call, morning.rate, 60)
                    )
                    for kind, result in chunk.by_kind.items():
                        load.kind(kind).latencies += result.latencies
                        load.kind(kind).errors += result.errors
                        load.kind(kind).error_kinds.update(result.error_kinds)
                    load.resent += chunk.resent
                    for name, process in processes.items():
                        samples[name].append(sample(process, minute + 1))
                    print(f"minute {minute + 1}/{MINUTES}: {chunk.errors} errors",
                          file=sys.stderr, flush=True)  # fmt: skip
            hits = [first_open.hit_ratio(before, first_open.lookups(g.url))
                    for before, g in zip(lookups, fleet.gateways, strict=True)]  # fmt: skip
    finally:
        redis_server.cleanup()
        postgres.cleanup()
    restarted = {"token 2": happened.get("token service 2 restarted")}
    per_process = {name: _verdict(s, restarted.get(name)) for name, s in samples.items()}
    errors = {kind: dict(r.error_kinds) for kind, r in load.by_kind.items() if r.errors}
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "minutes": MINUTES,
        "machine": report.document([], quick=False, subjects=STUDENTS)["machine"],
        "rates": RATES,
        "requests": sum(r.count + r.errors for r in load.by_kind.values()),
        "errors": errors,
        "churn_rounds": churn.rounds,
        "churn_errors": churn.errors,
        "events": happened,
        "resent": load.resent,
        "open_p99_ms": round(load.kind("open").percentile(99) * 1000, 2),
        "near_cache_hit_ratio": [round(h, 4) for h in hits],
        "processes": per_process,
        "holds": not errors and not churn.errors
        and all(p["holds"] is not False for p in per_process.values()),
    }  # fmt: skip


def table(results: dict) -> str:
    lines = [f"soak: {results['minutes']} min, {results['requests']} requests, errors "
             f"{results['errors'] or 'none'}, churn {results['churn_rounds']} rounds "
             f"(errors {results['churn_errors'] or 'none'}), events {results['events']}, "
             f"near-cache hits {results['near_cache_hit_ratio']}, "
             f"p99 opens {results['open_p99_ms']} ms",
             f"{'process':<10} {'start MB/fds':>14} {'settled MB/fds':>16} {'end MB/fds':>14} "
             f"{'growth':>8}  holds"]  # fmt: skip
    for name, p in results["processes"].items():
        settled = "-" if p["settled"] is None else f"{p['settled'][0]}/{p['settled'][1]}"
        growth = "-" if p["growth"] is None else f"{p['growth']:+.1%}"
        lines.append(f"{name:<10} {p['start'][0]:>9}/{p['start'][1]:<4} {settled:>16} "
                     f"{p['end'][0]:>9}/{p['end'][1]:<4} {growth:>8}  {p['holds']}")  # fmt: skip
    lines.append("HOLDS" if results["holds"] else "DOES NOT HOLD")
    return "\n".join(lines)


def main() -> int:
    if MINUTES < SETTLE_MINUTES + 1:
        print(f"SOAK_MINUTES must be at least {SETTLE_MINUTES + 1}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="qrpass-soak-") as workdir:
        results = run(Path(workdir))
    out = Path(os.environ.get("SOAK_RESULTS", ROOT / "bench" / "results-soak.json"))
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"results written to {out}")
    return 0 if results["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
