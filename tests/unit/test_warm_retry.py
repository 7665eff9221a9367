"""The warm's retry of cache calls, on a fake clock, and how Redis failures are classed."""

from __future__ import annotations

import asyncio

import pytest
from redis import exceptions as redis_errors

from image_service.cache import CacheUnavailable, unavailable
from image_service.retry import BOUND_SECONDS, LAST_PAUSE_SECONDS, WarmRetry
from tests.support.clock import FakeTime


class Attempts:
    """A call failing with `error` `failures` times, then answering "ok"."""

    def __init__(self, failures: int, error: CacheUnavailable | None = None) -> None:
        self.left = failures
        self.calls = 0
        self.error = error or CacheUnavailable("redis: TimeoutError", "timeout")

    async def __call__(self) -> str:
        self.calls += 1
        if self.left:
            self.left -= 1
            raise self.error
        return "ok"


def test_transient_failures_are_retried_with_a_growing_pause() -> None:
    time = FakeTime(now=0.0)
    retry = WarmRetry(clock=time.clock, sleep=time.sleep)
    attempt = Attempts(failures=8)
    assert asyncio.run(retry.call(attempt)) == "ok"
    assert attempt.calls == 9
    assert time.slept == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, LAST_PAUSE_SECONDS, LAST_PAUSE_SECONDS]


def test_a_failure_that_needs_an_operator_is_raised_at_once() -> None:
    time = FakeTime(now=0.0)
    retry = WarmRetry(clock=time.clock, sleep=time.sleep)
    full = CacheUnavailable("redis: OutOfMemoryError", "out_of_memory", transient=False)
    attempt = Attempts(failures=1, error=full)
    with pytest.raises(CacheUnavailable) as raised:
        asyncio.run(retry.call(attempt))
    assert raised.value.reason == "out_of_memory"
    assert (attempt.calls, time.slept) == (1, [])


def test_the_bound_is_shared_by_every_call_until_one_succeeds() -> None:
    time = FakeTime(now=0.0)
    retry = WarmRetry(clock=time.clock, sleep=time.sleep)
    down = Attempts(failures=10_000)
    with pytest.raises(CacheUnavailable):
        asyncio.run(retry.call(down))
    assert time.now == pytest.approx(BOUND_SECONDS)  # it waited out the bound, and no longer
    # Still down: the next batch fails at once instead of waiting out a bound of its own.
    calls, slept = down.calls, len(time.slept)
    with pytest.raises(CacheUnavailable):
        asyncio.run(retry.call(down))
    assert (down.calls - calls, len(time.slept) - slept) == (1, 0)
    # Back: a success ends the outage, and the next fault is ridden out again.
    assert asyncio.run(retry.call(Attempts(failures=0))) == "ok"
    assert asyncio.run(retry.call(Attempts(failures=3))) == "ok"


@pytest.mark.parametrize(
    ("error", "reason", "transient"),
    [
        (redis_errors.TimeoutError("Timeout reading from socket"), "timeout", True),
        (TimeoutError(), "timeout", True),
        (redis_errors.ConnectionError("Connection reset by peer"), "connection", True),
        (ConnectionRefusedError(111, "refused"), "connection", True),
        (redis_errors.BusyLoadingError("loading the dataset"), "loading", True),
        (redis_errors.MovedError("3999 127.0.0.1:6381"), "cluster", True),
        (redis_errors.AskError("3999 127.0.0.1:6381"), "cluster", True),
        (redis_errors.TryAgainError("multiple keys during resharding"), "cluster", True),
        (redis_errors.ClusterDownError("the cluster is down"), "cluster", True),
        (redis_errors.ReadOnlyError("a replica"), "read_only", True),
        (redis_errors.AuthenticationError("invalid password"), "auth", False),
        (redis_errors.OutOfMemoryError("used memory > maxmemory"), "out_of_memory", False),
        (redis_errors.ResponseError("WRONGTYPE"), "error", False),
    ],
)
def test_redis_failures_are_classed(error: Exception, reason: str, transient: bool) -> None:
    classed = unavailable(error)
    assert (classed.reason, classed.transient) == (reason, transient)
    assert str(classed) == f"redis: {type(error).__name__}"  # the class only: no server text
