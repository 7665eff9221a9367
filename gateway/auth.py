"""Bearer API keys (client and admin) checked in constant time, and a per-key rate limit."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass, field

from gateway.errors import ApiError

_BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per key: `per_minute` requests a minute, bursting up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key_digest: str) -> None:
        now = time.monotonic()
        bucket = self._buckets.setdefault(key_digest, _Bucket(self._capacity, now))
        bucket.tokens = min(
            self._capacity, bucket.tokens + (now - bucket.updated) * self._refill_per_second
        )
        bucket.updated = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self._refill_per_second)
            raise ApiError(
                429,
                f"rate limit of {int(self._capacity)} requests a minute reached; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        bucket.tokens -= 1


def _matches(digest: str, allowed: frozenset[str]) -> bool:
    # Compare against every entry, so the time taken does not depend on which one matched.
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(digest, candidate)
    return found


class Authenticator:
    """Checks `Authorization: Bearer <key>`; an admin key is accepted everywhere."""

    def __init__(
        self, client_keys: frozenset[str], admin_keys: frozenset[str], rate_limit_per_minute: int
    ) -> None:
        self._client = client_keys
        self._admin = admin_keys
        self._limiter = RateLimiter(rate_limit_per_minute) if rate_limit_per_minute > 0 else None

    def check(self, authorization: str | None, *, admin: bool) -> None:
        if not authorization:
            raise ApiError(401, "send an API key as 'Authorization: Bearer <key>'", headers=_BEARER)
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "the Authorization header must be 'Bearer <key>'", headers=_BEARER)
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        is_admin = _matches(digest, self._admin)
        if not is_admin and not _matches(digest, self._client):
            raise ApiError(401, "the API key is not valid", headers=_BEARER)
        if admin and not is_admin:
            raise ApiError(403, "this route needs an admin API key")
        if self._limiter is not None:
            self._limiter.check(digest)
