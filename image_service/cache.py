"""Image caches: Redis, Redis Cluster, or a bounded in-process LRU, behind one interface.

Every Redis call goes through the circuit breaker. A call that fails, or is refused by an open
breaker, raises CacheUnavailable with the failure's class; a request then renders directly
(BYPASS), and a warm retries what may pass (image_service/retry.py). Bulk calls (the warm's) use
their own connections with a longer timeout, so a large pipeline neither times out on a busy
server nor takes the connections that requests need.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis import exceptions as redis_errors
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from image_service.breaker import CircuitBreaker
from qrpass.core import tracing
from qrpass.vocabulary import IMAGE_KEY_FAMILY

# Variants (options other than the defaults) expire sooner and, in memory, get an eighth of the
# bytes. With Redis, `maxmemory-policy volatile-ttl` evicts them before any default pass.
VARIANT_TTL_SECONDS = 600
VARIANT_SHARE = 8
_SCAN_BATCH = 1000
SCAN_SAMPLE = 2000  # keys looked at to tell our share of a shared Redis
_JITTER = 0.1


class CacheUnavailable(Exception):
    """The cache cannot be used right now (down, slow, or its breaker is open).

    `reason` is the failure's class (a label of qrpass_image_warm_failures_total); `transient`
    says whether the same call may pass in a few seconds (a timeout, a reset connection, a
    cluster's redirection or failover) rather than needing an operator (auth, memory full).
    """

    def __init__(self, message: str, reason: str = "error", *, transient: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.transient = transient


# Most specific first: several are subclasses of ConnectionError or ResponseError.
_ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]
_FAILURE_CLASSES: tuple[tuple[_ErrorTypes, str, bool], ...] = (
    ((redis_errors.TimeoutError, TimeoutError), "timeout", True),
    ((redis_errors.AuthenticationError, redis_errors.AuthorizationError,
      redis_errors.NoPermissionError), "auth", False),
    (redis_errors.BusyLoadingError, "loading", True),
    ((redis_errors.ConnectionError, OSError), "connection", True),
    ((redis_errors.AskError, redis_errors.TryAgainError, redis_errors.ClusterDownError,
      redis_errors.RedisClusterException), "cluster", True),
    (redis_errors.ReadOnlyError, "read_only", True),  # a replica during a failover
    (redis_errors.OutOfMemoryError, "out_of_memory", False),
)  # fmt: skip
_ERRORS = (redis_errors.RedisError, redis_errors.RedisClusterException, OSError)


def unavailable(error: BaseException) -> CacheUnavailable:
    """The CacheUnavailable for a Redis client's exception, with its class."""
    for types, reason, transient in _FAILURE_CLASSES:
        if isinstance(error, types):
            return CacheUnavailable(f"redis: {type(error).__name__}", reason, transient=transient)
    return CacheUnavailable(f"redis: {type(error).__name__}", "error", transient=False)


@dataclass(frozen=True)
class BackendStats:
    """What the backend itself reports. On Redis, memory and evictions are the whole server's
    (summed over a cluster's primaries); entries counts qrpass's image keys only."""

    backend: str
    connected: bool
    entries: int
    memory_bytes: int
    max_memory_bytes: int = 0  # 0: no limit set
    evictions: int = 0  # keys pushed out for room since the backend started


def jittered(ttl_seconds: int) -> int:
    """The TTL ±10%, so entries written together (a warm) do not all expire together."""
    # Jitter, not a secret (bandit B311).
    spread = random.uniform(1 - _JITTER, 1 + _JITTER)  # nosec B311
    return max(1, round(ttl_seconds * spread))


class _Lru:
    """A bytes-bounded LRU whose entries expire `ttl_seconds` after their last use."""

    def __init__(self, ttl_seconds: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self.max_bytes = max_bytes
        self._clock = clock
        self.bytes = 0
        self.evictions = 0
        self.entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        now = self._clock()
        if expires <= now:
            self.drop(key)
            return None
        self.entries[key] = (value, now + jittered(self._ttl))
        self.entries.move_to_end(key)
        return value

    def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        now = self._clock()
        for key, value in items:
            if key in self.entries:
                self.drop(key)
            self.entries[key] = (value, now + jittered(self._ttl))
            self.bytes += len(value)
        while self.bytes > self.max_bytes and self.entries:
            self.drop(next(iter(self.entries)))
            self.evictions += 1

    def exists(self, key: str) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry[1] > self._clock()

    def drop(self, key: str) -> bool:
        entry = self.entries.pop(key, None)
        if entry is None:
            return False
        self.bytes -= len(entry[0])
        return True

    def drop_prefix(self, prefix: str) -> int:
        return sum(self.drop(key) for key in [k for k in self.entries if k.startswith(prefix)])

    def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        self.bytes = 0
        return count


class MemoryCache:
    """Bounded LRUs in this process, for running without Redis; TTLs renew on every hit.

    Variants (any options but the defaults) live in their own LRU, an eighth of the bytes, so
    no number of them can push a warmed default pass out.
    """

    name = "memory"

    def __init__(
        self,
        ttl_seconds: int,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        variant_bytes = max_bytes // VARIANT_SHARE
        self._tiers = (
            _Lru(ttl_seconds, max_bytes - variant_bytes, clock),
            _Lru(min(ttl_seconds, VARIANT_TTL_SECONDS), variant_bytes, clock),
        )

    async def get(self, key: str, *, variant: bool = False) -> bytes | None:
        return self._tiers[variant].get(key)

    async def get_many(self, keys: Sequence[str], *, variant: bool = False) -> list[bytes | None]:
        return [self._tiers[variant].get(key) for key in keys]

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False, bulk: bool = False
    ) -> None:
        self._tiers[variant].set_many(items)

    async def exists_many(
        self, keys: Sequence[str], *, variant: bool = False, bulk: bool = False
    ) -> list[bool]:
        return [self._tiers[variant].exists(key) for key in keys]

    async def delete(self, key: str) -> bool:
        return any([tier.drop(key) for tier in self._tiers])

    async def delete_prefix(self, prefix: str) -> int:
        return sum(tier.drop_prefix(prefix) for tier in self._tiers)

    async def clear(self) -> int:
        return sum(tier.clear() for tier in self._tiers)

    async def backend_stats(self) -> BackendStats:
        tiers = self._tiers
        return BackendStats(
            self.name,
            True,
            entries=sum(len(tier.entries) for tier in tiers),
            memory_bytes=sum(tier.bytes for tier in tiers),
            max_memory_bytes=sum(tier.max_bytes for tier in tiers),
            evictions=sum(tier.evictions for tier in tiers),
        )

    async def close(self) -> None:
        return None


class RedisCache:
    """Redis or Redis Cluster; short timeouts and a breaker keep a sick server off the hot path."""

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        *,
        cluster: bool = False,
        breaker: CircuitBreaker | None = None,
        timeout_seconds: float = 0.25,
        bulk_timeout_seconds: float = 5.0,
    ) -> None:
        self._ttls = (ttl_seconds, min(ttl_seconds, VARIANT_TTL_SECONDS))
        self._breaker = breaker or CircuitBreaker()
        self.name = "redis-cluster" if cluster else "redis"
        self._client = _client(url, cluster, timeout_seconds, connections=256)
        self._bulk = _client(url, cluster, bulk_timeout_seconds, connections=16)
        # What the breaker last opened on, so a refusal says why (and whether to wait for it).
        self._last_failure = CacheUnavailable("redis circuit is open", "connection")

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def _call(self, coro: Any) -> Any:
        if not self._breaker.allow():
            coro.close()
            last = self._last_failure
            raise CacheUnavailable(
                f"redis circuit is open (after {last.reason})",
                last.reason,
                transient=last.transient,
            )
        try:
            result = await coro
        except _ERRORS as error:
            raise self._failed(error) from error
        self._breaker.success()
        return result

    def _failed(self, error: BaseException) -> CacheUnavailable:
        self._breaker.failure()
        self._last_failure = unavailable(error)
        return self._last_failure

    async def get(self, key: str, *, variant: bool = False) -> bytes | None:
        # GETEX renews the TTL in the same round trip as the read.
        value: bytes | None = await self._call(
            self._client.getex(key, ex=jittered(self._ttls[variant]))
        )
        return value

    async def get_many(self, keys: Sequence[str], *, variant: bool = False) -> list[bytes | None]:
        """Every key in one pipelined round trip (one per node of a cluster), TTLs renewed."""
        if not keys:
            return []
        ttl = self._ttls[variant]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.getex(key, ex=jittered(ttl))
        values: list[bytes | None] = await self._call(pipe.execute())
        return values

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], *, variant: bool = False, bulk: bool = False
    ) -> None:
        if not items:
            return
        ttl = self._ttls[variant]
        if len(items) == 1 and not bulk:
            key, value = items[0]
            await self._call(self._client.set(key, value, ex=jittered(ttl)))
            return
        pipe = (self._bulk if bulk else self._client).pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value, ex=jittered(ttl))
        await self._call(pipe.execute())

    async def exists_many(
        self, keys: Sequence[str], *, variant: bool = False, bulk: bool = False
    ) -> list[bool]:
        if not keys:
            return []
        pipe = (self._bulk if bulk else self._client).pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(n) for n in await self._call(pipe.execute())]

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._client.unlink(key)))

    async def clear(self) -> int:
        return await self.delete_prefix(IMAGE_KEY_FAMILY)

    async def delete_prefix(self, prefix: str) -> int:
        """SCAN and UNLINK in batches; never KEYS, which would block the server. The prefix is
        ours (letters, digits, colons), so it needs no escaping as a SCAN pattern."""
        deleted = 0
        batch: list[str] = []
        try:
            async for key in self._client.scan_iter(match=prefix + "*", count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    deleted += await self._unlink(batch)
                    batch = []
        except _ERRORS as error:
            raise self._failed(error) from error
        return deleted + await self._unlink(batch)

    async def _unlink(self, keys: list[str]) -> int:
        if not keys:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            # One key per command so a cluster routes each to its slot; execute_command because
            # the cluster pipeline's own unlink() is a coroutine that would never be queued.
            pipe.execute_command("UNLINK", key)
        return sum(await self._call(pipe.execute()))

    async def backend_stats(self) -> BackendStats:
        # A cluster answers each of these per primary; a single server answers once.
        target = {"target_nodes": RedisCluster.PRIMARIES} if self.name == "redis-cluster" else {}
        try:
            memory = await self._call(self._client.info("memory", **target))
            stats = await self._call(self._client.info("stats", **target))
            keys = await self._call(self._client.dbsize(**target))
            share = await self._call(self._image_share())
        except CacheUnavailable:
            return BackendStats(self.name, False, 0, 0)
        return BackendStats(
            self.name,
            True,
            entries=round(_total(keys) * share),
            memory_bytes=_total(memory, "used_memory"),
            max_memory_bytes=_total(memory, "maxmemory"),
            evictions=_total(stats, "evicted_keys"),
        )

    async def _image_share(self) -> float:
        """The share of keys that are our images, from the first SCAN_SAMPLE keys a SCAN returns:
        exact when they are all there are, else an estimate (a SCAN walks the hash table's
        buckets, and keys land in buckets by hash, so the first ones are a fair sample). 1.0 in a
        Redis of our own; never a KEYS."""
        seen = ours = 0
        family = IMAGE_KEY_FAMILY.encode()
        async with contextlib.aclosing(self._client.scan_iter(count=_SCAN_BATCH)) as keys:
            async for key in keys:
                seen += 1
                ours += key.startswith(family)
                if seen >= SCAN_SAMPLE:
                    break
        return ours / seen if seen else 1.0

    async def close(self) -> None:
        await self._client.aclose()
        await self._bulk.aclose()


def _client(url: str, cluster: bool, timeout_seconds: float, *, connections: int) -> Any:
    tracing.instrument_redis()
    # No client-side retries: the breaker decides when to try again, and the warm retries.
    options: dict[str, Any] = dict(
        socket_timeout=timeout_seconds,
        socket_connect_timeout=min(timeout_seconds, 1.0),
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, max_connections=connections, **options)


def _total(reply: Any, field: str | None = None) -> int:
    """A cluster answers per node ({node: value}); a single server answers once."""
    if isinstance(reply, dict) and field is not None and field in reply:
        return int(reply[field])
    if isinstance(reply, dict):
        values = reply.values()
        return sum(int(v[field] if field else v) for v in values)
    return int(reply)
