"""The circuit breaker on a fake clock: every transition, the doubling cool-down and its cap."""

from __future__ import annotations

from image_service.breaker import CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, changes: list[State] | None = None) -> CircuitBreaker:
    on_change = changes.append if changes is not None else None
    return CircuitBreaker(
        threshold=3, cooldown=0.5, max_cooldown=2.0, clock=clock, on_change=on_change
    )


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()


def _opened(changes: list[State] | None = None) -> tuple[Clock, CircuitBreaker]:
    """A breaker on a fake clock at 0, opened by three failures in a row."""
    clock = Clock()
    breaker = _breaker(clock, changes)
    _open(breaker)
    return clock, breaker


def test_it_stays_closed_below_the_threshold() -> None:
    breaker = _breaker(Clock())
    for _ in range(2):
        breaker.failure()
    assert breaker.state is State.CLOSED and breaker.allow()


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = _breaker(Clock())
    for _ in range(10):  # never three in a row
        breaker.failure()
        breaker.failure()
        breaker.success()
    assert breaker.state is State.CLOSED


def test_it_opens_after_threshold_failures_in_a_row_and_refuses_calls() -> None:
    clock, breaker = _opened()
    assert breaker.state is State.OPEN
    clock.now = 0.49
    assert not breaker.allow()


def test_after_the_cool_down_exactly_one_probe_goes_through() -> None:
    clock, breaker = _opened()
    clock.now = 0.5
    assert breaker.allow()
    assert breaker.state is State.HALF_OPEN
    assert not breaker.allow() and not breaker.allow()  # the others wait for the probe


def test_a_probe_that_succeeds_closes_the_breaker() -> None:
    clock, breaker = _opened()
    clock.now = 0.5
    assert breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_each_failed_probe_doubles_the_cool_down_up_to_its_cap() -> None:
    clock, breaker = _opened()
    waits = []
    for _ in range(5):
        opened = clock.now
        while not breaker.allow():
            clock.now += 0.25
        waits.append(clock.now - opened)
        breaker.failure()  # the probe fails
    assert waits == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_a_success_after_an_outage_restores_the_short_cool_down() -> None:
    clock, breaker = _opened()
    for _ in range(3):  # three failed probes: the cool-down is at its cap
        clock.now += 2.0
        assert breaker.allow()
        breaker.failure()
    clock.now += 2.0
    assert breaker.allow()
    breaker.success()
    _open(breaker)
    clock.now += 0.5
    assert breaker.allow()


def test_every_change_of_state_is_reported_once() -> None:
    changes: list[State] = []
    clock, breaker = _opened(changes)
    breaker.failure()  # already open: no new report
    clock.now = 0.5
    breaker.allow()
    breaker.success()
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]
