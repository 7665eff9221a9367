"""A fake clock for code that takes `clock` and `sleep`: time moves only when slept on."""

from __future__ import annotations


class FakeTime:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds
