"""The soak's rule: RSS growth and descriptors are judged from the settled figure (2 minutes in,
or 2 minutes after a restart, on the process that runs at the end)."""

from __future__ import annotations

from bench.soak import Sample, _verdict


def _samples(rss: list[float], fds: list[int], pids: list[int] | None = None) -> list[Sample]:
    pids = pids or [1] * len(rss)
    return [Sample(m, pid, r, f) for m, (r, f, pid) in enumerate(zip(rss, fds, pids, strict=True))]


def test_growth_counts_from_the_settled_minute_not_the_start() -> None:
    # Filling caches in the first two minutes is not a leak; 5 % after them is within the bound.
    verdict = _verdict(_samples([50, 90, 100, 102, 105], [20, 30, 30, 31, 30]), None)
    assert verdict["settled"] == [100, 30, 2] and verdict["growth"] == 0.05
    assert verdict["holds"] is True


def test_growth_past_ten_percent_or_descriptors_climbing_fail() -> None:
    assert _verdict(_samples([50, 90, 100, 105, 111], [30] * 5), None)["holds"] is False
    assert _verdict(_samples([50, 90, 100, 100, 100], [30, 30, 30, 33, 36]), None)["holds"] is False


def test_a_restarted_process_is_judged_from_two_minutes_after_its_restart() -> None:
    samples = _samples([100, 100, 100, 40, 90, 95], [30] * 6, pids=[1, 1, 1, 2, 2, 2])
    verdict = _verdict(samples, restarted_at=2)
    assert verdict["settled"] == [90, 30, 4] and verdict["holds"] is True
    # With no settled figure yet, it is reported and not judged.
    assert _verdict(samples, restarted_at=4)["holds"] is None
