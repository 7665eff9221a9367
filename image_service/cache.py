"""Image caches: Redis, Redis Cluster, or a bounded in-process LRU, behind one interface.

Every Redis call goes through the circuit breaker. A call that fails, or is refused by an open
breaker, raises CacheUnavailable; the caller then renders directly (BYPASS).
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from image_service.breaker import CircuitBreaker

KEY_PREFIX = "qr:image:v1:"
_SCAN_BATCH = 1000
_JITTER = 0.1


class CacheUnavailable(Exception):
    """The cache cannot be used right now (down, slow, or its breaker is open)."""


@dataclass(frozen=True)
class BackendStats:
    """What the backend itself reports."""

    backend: str
    connected: bool
    entries: int
    memory_bytes: int


def jittered(ttl_seconds: int) -> int:
    """The TTL ±10%, so entries written together (a warm) do not all expire together."""
    return max(1, round(ttl_seconds * random.uniform(1 - _JITTER, 1 + _JITTER)))


class MemoryCache:
    """A bounded LRU in this process, for running without Redis; TTLs renew on every hit."""

    name = "memory"

    def __init__(self, ttl_seconds: int, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._ttl = ttl_seconds
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        now = time.monotonic()
        if expires <= now:
            self._drop(key)
            return None
        self._entries[key] = (value, now + jittered(self._ttl))
        self._entries.move_to_end(key)
        return value

    async def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        now = time.monotonic()
        for key, value in items:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (value, now + jittered(self._ttl))
            self._bytes += len(value)
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    async def exists_many(self, keys: Sequence[str]) -> list[bool]:
        now = time.monotonic()
        return [key in self._entries and self._entries[key][1] > now for key in keys]

    async def delete(self, key: str) -> bool:
        return self._drop(key)

    async def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._bytes = 0
        return count

    async def backend_stats(self) -> BackendStats:
        return BackendStats(self.name, True, len(self._entries), self._bytes)

    async def close(self) -> None:
        return None

    def _drop(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= len(entry[0])
        return True


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
    ) -> None:
        self._ttl = ttl_seconds
        self._breaker = breaker or CircuitBreaker()
        self.name = "redis-cluster" if cluster else "redis"
        # No client-side retries: the breaker decides when to try again.
        options: dict[str, Any] = dict(
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._client: Any
        if cluster:
            self._client = RedisCluster.from_url(url, **options)
        else:
            self._client = redis.Redis.from_url(url, max_connections=256, **options)

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def _call(self, coro: Any) -> Any:
        if not self._breaker.allow():
            coro.close()
            raise CacheUnavailable("redis circuit is open")
        try:
            result = await coro
        except (RedisError, OSError) as error:
            self._breaker.failure()
            raise CacheUnavailable(f"redis: {type(error).__name__}") from error
        self._breaker.success()
        return result

    async def get(self, key: str) -> bytes | None:
        # GETEX renews the TTL in the same round trip as the read.
        return await self._call(self._client.getex(key, ex=jittered(self._ttl)))

    async def set_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not items:
            return
        if len(items) == 1:
            key, value = items[0]
            await self._call(self._client.set(key, value, ex=jittered(self._ttl)))
            return
        pipe = self._client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value, ex=jittered(self._ttl))
        await self._call(pipe.execute())

    async def exists_many(self, keys: Sequence[str]) -> list[bool]:
        if not keys:
            return []
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return [bool(n) for n in await self._call(pipe.execute())]

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._client.unlink(key)))

    async def clear(self) -> int:
        """SCAN and UNLINK in batches; never KEYS, which would block the server."""
        deleted = 0
        batch: list[str] = []
        try:
            async for key in self._client.scan_iter(match=KEY_PREFIX + "*", count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    deleted += await self._unlink(batch)
                    batch = []
        except (RedisError, OSError) as error:
            self._breaker.failure()
            raise CacheUnavailable(f"redis: {type(error).__name__}") from error
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
            entries = await self._call(self._client.dbsize(**target))
        except CacheUnavailable:
            return BackendStats(self.name, False, 0, 0)
        return BackendStats(self.name, True, _total(entries), _total(memory, "used_memory"))

    async def close(self) -> None:
        await self._client.aclose()


def _total(reply: Any, field: str | None = None) -> int:
    """A cluster answers per node ({node: value}); a single server answers once."""
    if isinstance(reply, dict) and field is not None and field in reply:
        return int(reply[field])
    if isinstance(reply, dict):
        values = reply.values()
        return sum(int(v[field] if field else v) for v in values)
    return int(reply)
