"""A circuit breaker, so requests skip a dead cache instead of each paying a timeout."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class State(enum.IntEnum):
    """Breaker states; the values are the `qrpass_redis_circuit_state` gauge's."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after a cool-down lets one probe through.

    The cool-down doubles on each failed probe up to `max_cooldown`, and a success closes the
    breaker, so the cache comes back by itself after an outage of any length.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 0.5,
        max_cooldown: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self._threshold = threshold
        self._base_cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._cooldown = cooldown
        self._opened_at = 0.0
        self._probing = False
        self.state = State.CLOSED

    def _set(self, state: State) -> None:
        if state != self.state:
            self.state = state
            if self._on_change is not None:
                self._on_change(state)

    def allow(self) -> bool:
        """Whether a call may go to the cache now."""
        if self.state == State.CLOSED:
            return True
        if self.state == State.OPEN and self._clock() - self._opened_at >= self._cooldown:
            self._set(State.HALF_OPEN)
            self._probing = False
        if self.state == State.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._cooldown = self._base_cooldown
        self._probing = False
        self._set(State.CLOSED)

    def failure(self) -> None:
        self._failures += 1
        if self.state == State.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self._max_cooldown)
            self._open()
        elif self._failures >= self._threshold:
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._probing = False
        self._set(State.OPEN)
