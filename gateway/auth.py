"""API keys by access level (scanner, client, admin) checked in constant time, a per-key rate
limit, and a per-address limit on failed attempts so keys cannot be guessed at speed."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass, field

from gateway.errors import ApiError
from qrpass.core.config import ConfigError

_BEARER = {"WWW-Authenticate": "Bearer"}

# Each level may call its own routes and those of the levels below it.
ACCESS_LEVELS = ("public", "scanner", "client", "admin")
_RANK = {level: rank for rank, level in enumerate(ACCESS_LEVELS)}
# Wrong keys one client address may present a minute before it waits (a bucket refills).
FAILED_ATTEMPTS_PER_MINUTE = 30
# Production keys are long enough that guessing at the rate above never ends.
MIN_PRODUCTION_KEY_LENGTH = 24
_MAX_TRACKED = 100_000  # buckets kept before full ones are forgotten
# Hex digits of a key's sha256 that name it in logs: enough to tell keys apart, useless to guess.
KEY_ID_HEX_DIGITS = 8


def key_id(digest: str) -> str:
    """How logs name a key: a prefix of its sha256, the form QRPASS_*_API_KEYS accepts too."""
    return f"sha256:{digest[:KEY_ID_HEX_DIGITS]}"


def parse_api_keys(raw: str | None, name: str, *, min_length: int = 1) -> frozenset[str]:
    """Comma-separated keys, each plain or `sha256:<hex>`, as a set of sha256 hex digests."""
    digests: set[str] = set()
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry.startswith("sha256:"):
            digest = entry.removeprefix("sha256:").lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(f"{name} has a sha256: entry that is not 64 hex digits")
            digests.add(digest)
        else:
            if len(entry) < min_length:
                raise ConfigError(f"{name} has a key shorter than {min_length} characters")
            digests.add(hashlib.sha256(entry.encode()).hexdigest())
    return frozenset(digests)


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per name: `per_minute` a minute, bursting up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, name: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= _MAX_TRACKED:
                self._forget_full(now)
            bucket = self._buckets[name] = _Bucket(self._capacity, now)
        bucket.tokens = min(
            self._capacity, bucket.tokens + (now - bucket.updated) * self._refill_per_second
        )
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        refill = self._refill_per_second
        self._buckets = {
            name: b
            for name, b in self._buckets.items()
            if b.tokens + (now - b.updated) * refill < self._capacity
        }

    def retry_after(self, name: str) -> int | None:
        """Seconds until `name` may go again, or None if it may go now."""
        if name not in self._buckets:  # never spent: full (and no entry made for it)
            return None
        bucket = self._bucket(name)
        if bucket.tokens >= 1:
            return None
        return math.ceil((1 - bucket.tokens) / self._refill_per_second)

    def spend(self, name: str) -> None:
        self._bucket(name).tokens -= 1

    def check(self, name: str, what: str) -> None:
        """Spend one, or raise 429 saying what ran out and when to retry."""
        wait = self.retry_after(name)
        if wait is not None:
            raise ApiError(429, f"{what}; retry in {wait} s", headers={"Retry-After": str(wait)})
        self.spend(name)


def _matches(digest: str, allowed: frozenset[str]) -> bool:
    # Compare against every entry, so the time taken does not depend on which one matched.
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(digest, candidate)
    return found


class Authenticator:
    """Checks `Authorization: Bearer <key>` against the level a route needs."""

    def __init__(
        self,
        keys: dict[str, frozenset[str]],
        rate_limit_per_minute: int,
    ) -> None:
        self._keys = keys  # level -> key digests; "scanner", "client", "admin"
        self._key_ids = {digest: key_id(digest) for digests in keys.values() for digest in digests}
        self._limit = rate_limit_per_minute
        self._limiter = RateLimiter(rate_limit_per_minute) if rate_limit_per_minute > 0 else None
        self._failures = RateLimiter(FAILED_ATTEMPTS_PER_MINUTE)

    def _level(self, digest: str) -> int:
        rank = 0
        for level in ("scanner", "client", "admin"):  # every set is checked: constant time
            if _matches(digest, self._keys.get(level, frozenset())):
                rank = max(rank, _RANK[level])
        return rank

    def check(self, authorization: str | None, access: str, address: str) -> str:
        """The key's id (see `key_id`) if it may call a route of `access`; else ApiError (401,
        403 or 429)."""
        if not authorization:  # no key tried, nothing guessed: always a plain 401
            raise ApiError(401, "send an API key as 'Authorization: Bearer <key>'", headers=_BEARER)
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "the Authorization header must be 'Bearer <key>'", headers=_BEARER)
        wait = self._failures.retry_after(address)
        if wait is not None:
            raise ApiError(
                429,
                f"too many wrong API keys from this address; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        rank = self._level(digest)
        if rank == 0:
            self._failures.spend(address)
            raise ApiError(401, "the API key is not valid", headers=_BEARER)
        if rank < _RANK[access]:
            article = "an" if access == "admin" else "a"
            raise ApiError(403, f"this route needs {article} {access} API key")
        if self._limiter is not None:
            self._limiter.check(digest, f"rate limit of {self._limit} requests a minute reached")
        return self._key_ids[digest]
