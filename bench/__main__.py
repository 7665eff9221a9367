"""`python -m bench` (`make bench`): start the system as `qrpass up` does, on real PostgreSQL and
Redis, seed it, and measure each performance claim beside the original system's design
re-created in Node.js (bench/node/original.js) on the same PostgreSQL and Redis.

BENCH_QUICK=1 runs a short version on 2,000 students (what `make test` checks for shape).
BENCH_SUBJECTS=N (students; 25,000 by default) with any other N measures the population figures
alone (import, warm, memory, fill, a crowd opening once) into bench/results-scale-N.json.
Writes bench/results.json (or $BENCH_RESULTS), prints a table, and in full mode docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import redis
from tqdm import tqdm

from bench import autocannon, cpu, first_open, loadgen, report, rolling
from bench import original as bench_original
from qrpass.core.clients import ImageClient, TokenClient
from qrpass.core.config import TlsSettings
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.vocabulary import STUDENT
from tests.support.otlp import OtlpReceiver
from tests.support.servers import PostgresServer, RedisServer
from tests.support.services import ServiceProcess, stack_env

PLAINTEXT = TlsSettings(None, None, None)  # the bench runs its system on loopback without TLS
QUICK = os.environ.get("BENCH_QUICK") == "1"
FULL_STUDENTS = 25_000
STUDENTS = 2_000 if QUICK else int(os.environ.get("BENCH_SUBJECTS", FULL_STUDENTS))
SCALE_ONLY = not QUICK and STUDENTS != FULL_STUDENTS
STALLS = 200
OPEN_LOOP_SECONDS = 2 if QUICK else 15
THROUGHPUT_SECONDS = 1 if QUICK else 10
GRACE_SECONDS = 1 if QUICK else 10  # how long an open loop waits for its last answers
CONNECTIONS = 500 if QUICK else 5_000
ORIGINAL_RENDERS = 50 if QUICK else 1_000  # real renders by the original; see bench/original.py
ROOT = Path(__file__).resolve().parents[1]
CLIENT_KEY = "bench-client-key"
ADMIN_KEY = "bench-admin-key"


_T0 = time.perf_counter()


def stage(name: str) -> None:
    """One progress line on stderr per stage, with the time so far."""
    print(f"[{time.perf_counter() - _T0:6.1f} s] {name}", file=sys.stderr, flush=True)


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class System:
    """qrpass up, started the way an operator would, with the bench's ports and keys."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.env = stack_env(
            workdir, database_url, redis_url,
            QRPASS_API_KEYS=CLIENT_KEY, QRPASS_ADMIN_API_KEYS=ADMIN_KEY,
            QRPASS_RATE_LIMIT_PER_MINUTE="0",
            QRPASS_IMPORT_MAX_ROWS=str(max(STUDENTS, 200_000)),  # one file, as an operator would
        )  # fmt: skip
        # Logging as shipped (INFO, access log on): its cost is part of every figure.
        self.env["LOG_LEVEL"] = "INFO"
        self.env.pop("IMAGE_RENDER_WORKERS")  # one per core, as in production

        def port(name: str) -> int:
            return int(self.env[name].rpartition(":")[2])

        self.token_port = port("TOKEN_LISTEN_ADDR")
        self.image_port = port("IMAGE_LISTEN_ADDR")
        self.http_port = port("GATEWAY_LISTEN_ADDR")
        self.env["PYTHONPATH"] = str(ROOT)
        self.workdir = workdir
        self.log = workdir / "up.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qrpass.cli.main", "up", "--no-warm"], env=self.env, cwd=workdir,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while "qrpass is up" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"qrpass up failed:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "qrpass.cli.main", *args], env=self.env, cwd=self.workdir,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"qrpass {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _seed(system: System) -> float:
    lines = ["id,registration_no,name,email"]
    lines += [f"S{i:05d},R{i:07d},Student {i},s{i}@campus.edu" for i in range(STUDENTS)]
    students = system.workdir / "students.csv"
    students.write_text("\n".join(lines) + "\n")
    stalls = system.workdir / "stalls.csv"
    stalls.write_text(
        "id,stall_number,name\n" + "".join(f"T{i:03d},A-{i},Stall {i}\n" for i in range(STALLS))
    )
    start = time.perf_counter()
    system.cli("import", "students", str(students))
    seconds = time.perf_counter() - start
    system.cli("import", "stalls", str(stalls))
    return seconds


def _token_client(system: System) -> TokenClient:
    return TokenClient.connect(f"127.0.0.1:{system.token_port}", PLAINTEXT)


def _tokens(system: System) -> dict[str, str]:
    async def every_student() -> dict[str, str]:
        async with _token_client(system) as client:
            return {
                entry.subject.id: entry.token
                async for page in client.pages(STUDENT, 1000)
                for entry in page.subject_tokens
            }

    return asyncio.run(every_student())


def _cold_render_grpc(system: System, texts: list[str]) -> list[float]:
    async def render_each() -> list[float]:
        samples = []
        async with ImageClient.connect(f"127.0.0.1:{system.image_port}", PLAINTEXT) as images:
            for text in tqdm(texts, desc="cold render (gRPC)", leave=False):
                start = time.perf_counter()
                reply = await images.render(text)
                samples.append(time.perf_counter() - start)
                assert reply.cache_status == image_pb.CACHE_STATUS_MISS
        return samples

    return asyncio.run(render_each())


def _in_process(texts: list[str], encoder: str) -> list[float]:
    from image_service.render import RenderOptions, render

    samples = []
    for text in tqdm(texts, desc=f"cold render ({encoder})", leave=False):
        start = time.perf_counter()
        render(text, RenderOptions(), encoder)
        samples.append(time.perf_counter() - start)
    return samples


def _warm(system: System) -> tuple[float, float]:
    output = system.cli("warm", "--quiet")
    match = re.search(r"warm: .*?([\d.]+) s, (\d+) QR/s", output)
    if match is None or "failed 0" not in output:
        raise RuntimeError(f"unexpected warm output: {output}")
    return float(match.group(1)), float(match.group(2))


async def _grpc_loop(
    system: System,
    call: Callable[[TokenClient, int], Awaitable[bool]],
    seconds: float,
    concurrency: int,
) -> loadgen.LoadResult:
    """`concurrency` workers make `call(client, i)` back to back for `seconds`; False is an error."""
    result = loadgen.LoadResult()
    stop = time.perf_counter() + seconds
    async with _token_client(system) as client:

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    ok = await call(client, i)
                except grpc.aio.AioRpcError:
                    ok = False
                if ok:
                    result.latencies.append(time.perf_counter() - start)
                else:
                    result.errors += 1
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        result.seconds = time.perf_counter() - t0
    return result


def _grpc_verify(system: System, tokens: list[str], seconds: float) -> loadgen.LoadResult:
    async def call(client: TokenClient, i: int) -> bool:
        return (await client.verify(tokens[i % len(tokens)])).valid

    return asyncio.run(_grpc_loop(system, call, seconds, 32))


def _grpc_rotate(system: System, ids: list[str], seconds: float) -> loadgen.LoadResult:
    """Each RotateToken signs a new Ed25519 token and writes it: the signing path end to end."""

    async def call(client: TokenClient, i: int) -> bool:
        await client.rotate(STUDENT, ids[i % len(ids)])
        return True

    return asyncio.run(_grpc_loop(system, call, seconds, 16))


def _rotate_all(system: System, ids: list[str]) -> None:
    """Rotate every student once (16 at a time): the revocation list's worst case."""

    async def rotate_all() -> None:
        limit = asyncio.Semaphore(16)
        async with _token_client(system) as client:

            async def rotate(subject_id: str) -> None:
                async with limit:
                    await client.rotate(STUDENT, subject_id)

            await asyncio.gather(*(rotate(subject_id) for subject_id in ids))

    asyncio.run(rotate_all())


def _revocation_list(url: str, auth: dict[str, str]) -> dict[str, float]:
    """The whole list: seconds to build and sign it, seconds when unchanged, bytes plain and gzip."""
    figures: dict[str, float] = {}
    for name, encoding in (("first", "identity"), ("again", "identity"), ("gzip", "gzip")):
        request = urllib.request.Request(
            f"{url}/v1/revocations", headers={**auth, "Accept-Encoding": encoding}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
        figures[f"{name}_seconds"] = time.perf_counter() - start
        figures[f"{name}_bytes"] = len(body)
    return figures


def _redis_used_memory(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def _service_pids(up_pid: int) -> dict[str, list[int]]:
    """The three services below `qrpass up`, by name (the image service's tree has its workers)."""
    found: dict[str, list[int]] = {}
    for pid in cpu.tree(up_pid):
        for name in ("gateway", "token_service", "image_service"):
            if f"-m {name}" in cpu.cmdline(pid):
                found[name] = [pid]
    return found


def _per_request(spent: dict[str, float], requests: int) -> tuple[float, str]:
    """Server CPU per request in ms, and its split by process."""
    total = sum(spent.values()) * 1000 / max(requests, 1)
    split = ", ".join(f"{name} {seconds * 1000 / max(requests, 1):.3f}"
                      for name, seconds in spent.items())  # fmt: skip
    return total, split


def _closed(url: str, requests: list[dict], meter: cpu.CpuMeter, headers: dict[str, str]
            ) -> tuple[autocannon.Closed, float, str]:  # fmt: skip
    meter.start()
    result = autocannon.run(url, requests, THROUGHPUT_SECONDS, 64, headers)
    per_request, split = _per_request(meter.stop(), result.total)
    return result, per_request, split


def _body_bytes(url: str, headers: dict[str, str]) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as reply:
        return len(reply.read())  # urllib leaves Content-Encoding as it is


def _on_another_gateway(system: System, env: dict[str, str], passes: list[dict],
                        auth: dict[str, str]) -> tuple[autocannon.Closed, float]:  # fmt: skip
    """The closed loop on a gateway of its own with `env` over the system's, once it holds
    every pass: the result and that gateway's CPU per request (it is stopped after)."""
    gateway = ServiceProcess("gateway", system.env | env, system.workdir).start()
    try:
        assert gateway.process is not None
        first_open.wait_full(gateway.url, STUDENTS + STALLS)
        meter = cpu.CpuMeter({"gateway": [gateway.process.pid]})
        result, per_request, _ = _closed(gateway.url, passes, meter, auth)
    finally:
        gateway.stop()
    return result, per_request


def _gateway_extras(system: System, url: str, passes: list[dict], auth: dict[str, str]
                    ) -> list[dict]:  # fmt: skip
    """The same closed loop plain, with gzip accepted, on a second gateway whose access log is
    off, and on a third exporting traces (the default sampler: 10 % of requests, to a real
    OTLP receiver); the services and their caches are shared; each gateway's CPU is metered
    alone."""
    gzip_ok = auth | {"Accept-Encoding": "gzip"}
    meter = cpu.CpuMeter({"gateway": _service_pids(system.process.pid)["gateway"]})
    logged, logged_cpu, _ = _closed(url, passes, meter, auth)
    gzipped, gzip_cpu, _ = _closed(url, passes, meter, gzip_ok)
    first = url + passes[0]["path"]
    sizes = _body_bytes(first, auth), _body_bytes(first, gzip_ok)
    silent, silent_cpu = _on_another_gateway(system, {"QRPASS_ACCESS_LOG": "off"}, passes, auth)
    with OtlpReceiver() as receiver:
        traced_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        tracing, tracing_cpu = _on_another_gateway(system, traced_env, passes, auth)
        spans = len(receiver.spans)
    return report.gateway_extras(logged, logged_cpu, gzipped, gzip_cpu, silent, silent_cpu,
                                 *sizes) + report.traces(logged, logged_cpu, tracing, tracing_cpu,
                                                         spans)  # fmt: skip


def run() -> dict:
    _raise_fd_limit()
    stage("starting PostgreSQL and Redis")
    workdir = Path(tempfile.mkdtemp(prefix="qrpass-bench-"))
    postgres, redis_server = PostgresServer(), RedisServer()
    postgres.start()
    redis_server.start()
    system = original = None
    figures: list[dict] = []
    try:
        stage("starting qrpass up")
        database_url = postgres.create_database()
        system = System(workdir, database_url, redis_server.url)
        stage("seeding")
        import_seconds = _seed(system)
        tokens = _tokens(system)
        ids = sorted(tokens)
        token_list = [tokens[i] for i in ids]
        auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
        host, port = "127.0.0.1", system.http_port
        url = f"http://{host}:{port}"
        stores = {"postgres": [postgres.process.pid], "redis": [redis_server.process.pid]}
        qrpass_meter = cpu.CpuMeter(_service_pids(system.process.pid) | stores)

        stage("the original (Node.js), its cache filled")
        original = bench_original.start(database_url, redis_server.url.rsplit("/", 1)[0] + "/1",
                                        tokens, ORIGINAL_RENDERS)  # fmt: skip
        original_url = f"http://{host}:{original.port}"
        original_auth = {"Authorization": f"Bearer {original.auth_token}"}
        original_meter = cpu.CpuMeter({"node": [original.process.pid]} | stores)
        render_ms = bench_original.median_ms(original.render_seconds)

        stage("cold renders")
        sample = token_list[:100] if QUICK else token_list[:300]
        grpc_cold = _cold_render_grpc(system, sample)
        zxing = _in_process([t + "x" for t in sample], "zxing-cpp")
        pure = _in_process([t + "y" for t in sample[: 20 if QUICK else 50]], "qrcode")
        figures += report.cold_render(grpc_cold, zxing, pure, render_ms)

        stage("warm from empty, then again")
        system.cli("cache", "clear")
        memory_before = _redis_used_memory(redis_server.url)
        warm_seconds, warm_rate = _warm(system)
        warm_ended = time.perf_counter()
        memory_after = _redis_used_memory(redis_server.url)
        skip_seconds, skip_rate = _warm(system)
        subjects = STUDENTS + STALLS
        figures += report.warm(subjects, warm_seconds, warm_rate, skip_seconds, skip_rate,
                               1000 / render_ms, (memory_after - memory_before) / subjects,
                               import_seconds)  # fmt: skip

        def pass_path(i: int) -> str:
            return f"/v1/students/{ids[(i * 7919) % len(ids)]}/qr"

        passes = [{"path": pass_path(i)} for i in range(len(ids))]
        stage("the gateway fills its near-cache from the warm, nobody asking")
        first_open.wait_full(url, subjects)
        after_warm = time.perf_counter() - warm_ended
        pids = _service_pids(system.process.pid)
        gateway_pid = pids["gateway"][0]
        rss = {name: first_open.rss_mb(found[0]) for name, found in pids.items()}
        held = first_open.gauges(url)
        figures += first_open.held(url, gateway_pid, after_warm)
        stage("the original, closed loop (autocannon): its cache answers any open alike")
        theirs, theirs_cpu, theirs_split = _closed(original_url, passes, original_meter,
                                                   original_auth)  # fmt: skip
        first_crowd = first_open.Crowd(
            system.env, workdir, auth, original.port, original_auth, subjects, passes, stores,
            {k: v for k, v in pids.items() if k != "gateway"},
        )  # fmt: skip
        stage("first opens, closed loop: every student once (autocannon)")
        first_rows, hit_ratio = first_open.crowd_once(first_crowd, url, gateway_pid, theirs,
                                                      theirs_cpu)  # fmt: skip
        figures += first_rows
        figures += report.scale(
            import_seconds=import_seconds, warm_seconds=warm_seconds, rss_mb=rss,
            redis_bytes=memory_after - memory_before, held=held, hit_ratio=hit_ratio,
            first_rate=first_rows[0]["value"],
        )  # fmt: skip
        if SCALE_ONLY:
            return report.document(figures, quick=False, subjects=subjects)
        try:
            figures += first_open.figures(
                first_crowd, url, theirs, open_seconds=OPEN_LOOP_SECONDS, grace=GRACE_SECONDS,
                connections=CONNECTIONS, stage=stage,
            )  # fmt: skip
        finally:
            first_crowd.stop()
        stage("repeat opens, closed loop (autocannon)")
        ours, ours_cpu, ours_split = _closed(url, passes, qrpass_meter, auth)
        pngs = [{"path": p["path"] + ".png"} for p in passes]
        png, png_cpu, _ = _closed(url, pngs, qrpass_meter, auth)
        figures += report.closed_loop(ours, ours_cpu, ours_split, png, png_cpu, theirs,
                                      theirs_cpu, theirs_split)  # fmt: skip
        stage("what gzip and the access log cost a cached pass (gateway CPU)")
        figures += _gateway_extras(system, url, passes, auth)

        stage("cached passes, open loop at 1,000 and 5,000 req/s")
        steady = {}
        for rate in (1000, 5000):
            steady[rate] = asyncio.run(loadgen.open_loop(host, port, auth, pass_path, rate,
                                                         OPEN_LOOP_SECONDS, grace=GRACE_SECONDS))  # fmt: skip
        theirs_steady = asyncio.run(loadgen.open_loop(
            host, original.port, original_auth, pass_path, 1000, OPEN_LOOP_SECONDS,
            grace=GRACE_SECONDS))  # fmt: skip
        figures += report.open_loop(steady[1000], steady[5000], theirs_steady)

        stage("simultaneous connections")
        crowd_paths = [pass_path(i) for i in range(CONNECTIONS)]
        crowd = asyncio.run(loadgen.simultaneous(host, port, auth, crowd_paths))
        figures += report.crowd(crowd, CONNECTIONS)

        stage("verify")
        verify_grpc = _grpc_verify(system, token_list, THROUGHPUT_SECONDS)
        bodies = [{"path": "/v1/verify", "method": "POST",
                   "body": json.dumps({"token": token_list[(i * 7919) % len(token_list)]})}
                  for i in range(min(len(token_list), 5000))]  # fmt: skip
        verify_http = autocannon.run(url, bodies, THROUGHPUT_SECONDS, 32, auth)

        def verify_path(i: int) -> str:
            return "POST /v1/verify " + bodies[i % len(bodies)]["body"]

        verify_steady = asyncio.run(loadgen.open_loop(host, port, auth, verify_path, 500,
                                                      OPEN_LOOP_SECONDS, grace=GRACE_SECONDS))  # fmt: skip
        figures += report.verify(verify_grpc, verify_http, verify_steady)

        stage("gate: check-in on PostgreSQL")
        gates = [f"Gate {g}" for g in range(20)]
        scans = [{"path": "/v1/checkins", "method": "POST", "body": json.dumps(
                    {"token": token_list[(i * 7919) % len(token_list)], "gate": gates[i % 20]})}
                 for i in range(min(len(token_list), 5000))]  # fmt: skip
        checkin_http = autocannon.run(url, scans, THROUGHPUT_SECONDS, 32, auth)

        def scan_path(i: int) -> str:  # a distinct pass and scan_id a call: a gate rush
            body = {"token": token_list[(i * 104729) % len(token_list)], "gate": gates[i % 20],
                    "scan_id": f"rush-{i}"}  # fmt: skip
            return "POST /v1/checkins " + json.dumps(body)

        checkin_steady = asyncio.run(loadgen.open_loop(host, port, auth, scan_path, 500,
                                                       OPEN_LOOP_SECONDS, grace=GRACE_SECONDS))  # fmt: skip
        figures += report.check_in(checkin_http, checkin_steady)

        stage("sign (rotate)")
        # Last: rotation replaces tokens, so every cached pass above would become a miss.
        rotate = _grpc_rotate(system, ids, THROUGHPUT_SECONDS)
        figures.append(report.figure("sign (RotateToken) via gRPC", rotate.rate, "tokens/s",
                                     note="Ed25519 sign + PostgreSQL write + change log per call"))  # fmt: skip

        stage(f"revocation list: all {len(ids)} students rotated")
        _rotate_all(system, ids)
        figures += report.revocations(_revocation_list(url, auth), len(ids))

        stage("rolling restart of a fleet of two of each, under a gate morning's load")
        system.stop()  # the fleet has the machine to itself, as the system above had
        original.stop()
        system = original = None
        fleet_dir = workdir / "fleet"
        fleet_dir.mkdir()
        redis_db = redis_server.url.rsplit("/", 1)[0] + "/2"
        figures += rolling.measure(fleet_dir, postgres.create_database(), redis_db, quick=QUICK)
    finally:
        if original is not None:
            original.stop()
        if system is not None:
            system.stop()
        redis_server.cleanup()
        postgres.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)  # its access log runs to hundreds of MB
    return report.document(figures, quick=QUICK, subjects=STUDENTS + STALLS)


def _results_path() -> Path:
    if QUICK:
        name = "results-quick.json"
    else:
        name = f"results-scale-{STUDENTS}.json" if SCALE_ONLY else "results.json"
    return Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / name))


def main() -> int:
    results = run()
    out = _results_path()
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    full = ROOT / "bench" / "results.json"
    if not QUICK and full.exists():  # the full run's table, with every scale run beside it
        scale_runs = [
            json.loads(p.read_text()) for p in sorted(full.parent.glob("results-scale-*.json"))
        ]
        (ROOT / "docs" / "benchmarks.md").write_text(
            report.markdown(json.loads(full.read_text()), scale_runs)
        )
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
