"""A small HTTP/1.1 load generator on asyncio streams: keep-alive connections, open or closed loop.

Open loop sends request i at t0 + i/rate whatever the server does, and measures latency from that
intended time, so a slow server cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Latencies in seconds of the requests that got a 2xx/3xx, and the rest as errors."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class Connection:
    """One keep-alive HTTP/1.1 connection; reads just enough of each response to reuse it."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"Host: {host}:{port}\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)

    async def get(self, path: str) -> int:
        """GET `path`, or POST a JSON body when `path` is `POST <path> <body>`."""
        if path.startswith("POST "):
            _, target, body = path.split(" ", 2)
            return await self.send("POST", target, body)
        return await self.send("GET", path)

    async def send(self, method: str, target: str, body: str = "", head: str = "") -> int:
        """One request (a JSON body if any, `head` as extra header lines); its status."""
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
        elif method == "POST":
            head += "Content-Length: 0\r\n"
        self._writer.write(f"{method} {target} HTTP/1.1\r\n{self._head}{head}\r\n{body}".encode())
        answer = await self._reader.readuntil(b"\r\n\r\n")
        status = int(answer[9:12])
        length = 0
        for line in answer.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self._reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _one(connection: Connection, path: str, start: float, result: LoadResult) -> None:
    try:
        status = await connection.get(path)
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        result.errors += 1
        result.error_kinds[type(error).__name__] += 1
        await connection.close()
        return
    if status < 400:
        result.latencies.append(time.perf_counter() - start)
    else:
        result.errors += 1
        result.error_kinds[f"HTTP {status}"] += 1


async def open_loop(
    host: str, port: int, headers: dict[str, str], paths: Callable[[int], str],
    rate: float, seconds: float, connections: int = 128,
    on_progress: Callable[[int], None] | None = None, grace: float = 10.0,
) -> LoadResult:  # fmt: skip
    """Send `rate` requests a second for `seconds`; latency counts from each intended send time.
    Requests still unanswered `grace` seconds after the last send count as errors."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(host, port, headers))
    result = LoadResult()
    cpu0, t0 = _cpu(), time.perf_counter()
    total = int(rate * seconds)
    tasks = []

    async def fire(i: int, intended: float) -> None:
        connection = await pool.get()  # waiting for a free connection counts as latency
        try:
            await _one(connection, paths(i), intended, result)
        finally:
            pool.put_nowait(connection)

    for i in range(total):
        intended = t0 + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(fire(i, intended)))
        if on_progress is not None and i % 100 == 0:
            on_progress(i)
    await _settle(tasks, grace, result, t0, cpu0)
    while not pool.empty():
        await pool.get_nowait().close()
    return result


async def _settle(
    tasks: list[asyncio.Future[None]], timeout: float, result: LoadResult, t0: float, cpu0: float
) -> None:
    """Waits up to `timeout` for the fetches; those still unanswered are cancelled and counted as
    errors. Then the run's wall and client CPU time are taken."""
    _, unfinished = await asyncio.wait(tasks, timeout=timeout)
    for task in unfinished:
        task.cancel()
    result.errors += len(unfinished)
    result.seconds = time.perf_counter() - t0
    result.client_cpu_seconds = _cpu() - cpu0


async def closed_loop(
    host: str, port: int, headers: dict[str, str], paths: Callable[[int], str],
    concurrency: int, seconds: float,
) -> LoadResult:  # fmt: skip
    """`concurrency` workers send back to back for `seconds`: the maximum throughput."""
    result = LoadResult()
    cpu0, t0 = _cpu(), time.perf_counter()
    stop = t0 + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        connection = Connection(host, port, headers)
        while time.perf_counter() < stop:
            await _one(connection, paths(next(counter)), time.perf_counter(), result)
        await connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - t0
    result.client_cpu_seconds = _cpu() - cpu0
    return result


async def simultaneous(
    host: str, port: int, headers: dict[str, str], paths: Sequence[str], timeout: float = 60.0
) -> LoadResult:
    """Open one connection per path, all at once, and fetch each path once on its own connection.
    Fetches unanswered after `timeout` seconds count as errors."""
    result = LoadResult()
    cpu0, t0 = _cpu(), time.perf_counter()
    connections = [Connection(host, port, headers) for _ in paths]

    async def fetch(connection: Connection, path: str) -> None:
        start = time.perf_counter()
        try:
            await connection.open()
        except OSError as error:
            result.errors += 1
            result.error_kinds[f"connect {type(error).__name__}"] += 1
            return
        await _one(connection, path, start, result)

    tasks = [asyncio.ensure_future(fetch(c, p)) for c, p in zip(connections, paths, strict=True)]
    await _settle(tasks, timeout, result, t0, cpu0)
    await asyncio.gather(*(c.close() for c in connections))
    return result


@dataclass(frozen=True)
class Call:
    """One request of a mixed load; `kind` names it in the results."""

    kind: str
    method: str
    target: str
    key: str  # the bearer key it is sent with
    body: str = ""


@dataclass
class MixedResult:
    """Per kind, the latencies and errors; every call answered 2xx; the calls sent again
    to the other target after a refused or dropped connection."""

    by_kind: dict[str, LoadResult] = field(default_factory=dict)
    answered: list[Call] = field(default_factory=list)
    resent: int = 0

    def kind(self, name: str) -> LoadResult:
        return self.by_kind.setdefault(name, LoadResult())

    @property
    def errors(self) -> int:
        return sum(result.errors for result in self.by_kind.values())


async def balanced_open_loop(
    targets: Sequence[tuple[str, int]], calls: Callable[[int], Call], rate: float,
    seconds: float, connections: int = 32, attempts: int = 4, grace: float = 10.0,
) -> MixedResult:  # fmt: skip
    """An open loop over several targets, as a load balancer sends: call i goes to target
    i mod n, and a call whose connection is refused or dropped before its answer is sent to
    the next target (up to `attempts` in all), as a balancer retries a failed connection.
    Latency counts from the intended send time, retries included; 4xx and 5xx are errors."""
    pools: list[asyncio.Queue[Connection]] = []
    for host, port in targets:
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(Connection(host, port, {}))
        pools.append(pool)
    result = MixedResult()
    t0 = time.perf_counter()

    async def fire(i: int, intended: float) -> None:
        call = calls(i)
        head = f"Authorization: Bearer {call.key}\r\n"
        for attempt in range(attempts):
            pool = pools[(i + attempt) % len(pools)]
            connection = await pool.get()
            try:
                status = await connection.send(call.method, call.target, call.body, head)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                await connection.close()
                if attempt + 1 == attempts:
                    result.kind(call.kind).errors += 1
                    result.kind(call.kind).error_kinds[type(error).__name__] += 1
                    return
                result.resent += 1
                await asyncio.sleep(0.02 * attempt)  # both refusing: give one a moment
                continue
            finally:
                pool.put_nowait(connection)
            if status < 400:
                result.kind(call.kind).latencies.append(time.perf_counter() - intended)
                result.answered.append(call)
            else:
                result.kind(call.kind).errors += 1
                result.kind(call.kind).error_kinds[f"HTTP {status}"] += 1
            return

    tasks = []
    for i in range(int(rate * seconds)):
        intended = t0 + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(fire(i, intended)))
    _, unfinished = await asyncio.wait(tasks, timeout=grace)
    for task in unfinished:
        task.cancel()
        result.kind("unanswered").errors += 1
    for pool in pools:
        while not pool.empty():
            await pool.get_nowait().close()
    return result
