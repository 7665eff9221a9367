"""The warm command's pacing and totals, on a fake clock."""

from __future__ import annotations

import asyncio

from qrpass.cli.cache import Pacer, WarmTotals
from tests.support.clock import FakeTime


def test_the_pacer_spaces_batches_to_the_rate() -> None:
    time = FakeTime()
    pacer = Pacer(50, time.clock, time.sleep)

    async def send() -> None:
        for _ in range(4):
            await pacer.admit(10)  # 10 texts at 50 a second: one batch each 0.2 s

    asyncio.run(send())
    assert time.slept == [0.2, 0.2, 0.2]  # the first goes at once


def test_time_spent_elsewhere_counts_toward_the_next_batch() -> None:
    time = FakeTime()
    pacer = Pacer(10, time.clock, time.sleep)

    async def send() -> None:
        await pacer.admit(5)  # its share: 0.5 s
        time.now += 0.3  # the batch's own work took 0.3 s
        await pacer.admit(5)
        time.now += 2  # a slow page: no debt is paid back in a burst
        await pacer.admit(5)
        await pacer.admit(5)

    asyncio.run(send())
    assert time.slept == [0.2, 0.5]


def test_rate_zero_never_waits() -> None:
    time = FakeTime()
    pacer = Pacer(0, time.clock, time.sleep)
    asyncio.run(pacer.admit(5000))
    assert time.slept == []


def test_totals_add_up_and_print_in_the_original_order() -> None:
    whole, section = WarmTotals(), WarmTotals(total=20, cached=5, rendered=14, failed=1)
    whole.add(section)
    whole.add(WarmTotals(total=1, rendered=1))
    assert (whole.total, whole.cached, whole.rendered, whole.failed) == (21, 5, 15, 1)
    assert section.line("stalls").startswith("stalls: total 20, cached 5, rendered 14, failed 1, ")
