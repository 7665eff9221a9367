"""Cache commands: `warm` (every subject's pass into the cache), `stats`, `cache clear` and
`cache invalidate TOKEN`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway
from tqdm import tqdm

from qrpass.cli.rpc import CommandFailed, run, with_images
from qrpass.core.clients import ImageClient, Targets, TokenClient
from qrpass.vocabulary import KINDS, Kind

PAGE_SIZE = 1000  # subjects listed a call, and the default texts a WarmQrCodes call
BATCHES_IN_FLIGHT = 4  # keeps every render worker busy while the next page is listed
WARM_DEADLINE_SECONDS = 120.0
CLEAR_DEADLINE_SECONDS = 300.0
MIB = 1024 * 1024


@dataclass
class WarmTotals:
    """What a warm run (or one kind's section of it) did, summed over its batches."""

    total: int = 0
    cached: int = 0
    rendered: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # `failed` by reason
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return (self.rendered + self.cached) / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: WarmTotals) -> None:
        self.total += other.total
        self.cached += other.cached
        self.rendered += other.rendered
        self.failed += other.failed
        self.failures.update(other.failures)

    @property
    def reasons(self) -> str:
        """The failures by reason, most first: "timeout 300, render 2"."""
        return ", ".join(f"{reason} {count}" for reason, count in self.failures.most_common())

    def line(self, name: str) -> str:
        why = f" ({self.reasons})" if self.failures else ""
        return (
            f"{name}: total {self.total}, cached {self.cached}, rendered {self.rendered}, "
            f"failed {self.failed}{why}, {self.seconds:.1f} s, {self.rate:.0f} QR/s"
        )


class Pacer:
    """Spaces batches so that at most `rate` texts a second are sent; 0 sends at full speed.
    The first batch goes at once, each next one when the previous one's share of time is up."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    async def admit(self, texts: int) -> None:
        if self._rate <= 0:
            return
        now = self._clock()
        start = now if self._next is None else max(self._next, now)
        if start > now:
            await self._sleep(start - now)
        self._next = start + texts / self._rate


async def warm_kind(
    kind: Kind,
    tokens: TokenClient,
    images: ImageClient,
    batch_size: int,
    pacer: Pacer,
    show_progress: bool,
) -> WarmTotals:
    """One kind's section: every subject's pass, in batches, with a bar of running counts."""
    totals = WarmTotals()
    limit = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    bar = tqdm(total=0, unit="QR", desc=kind.plural, disable=not show_progress,
               file=sys.stderr, dynamic_ncols=True)  # fmt: skip

    async def warm_batch(texts: list[str]) -> None:
        try:
            reply = await images.warm(texts, timeout=WARM_DEADLINE_SECONDS)
            totals.cached += reply.already_cached
            totals.rendered += reply.rendered
            totals.failed += reply.failed
            totals.failures.update(reply.failures)
        except Exception:
            totals.failed += len(texts)
            totals.failures["call_failed"] += len(texts)
            raise
        finally:
            limit.release()
            bar.set_postfix_str(f"rendered={totals.rendered}, failed={totals.failed}", False)
            bar.update(len(texts))

    tasks = []
    try:
        async for page in tokens.pages(kind, PAGE_SIZE):
            totals.total = bar.total = page.total_size
            texts = [entry.token for entry in page.subject_tokens]
            for at in range(0, len(texts), batch_size):
                batch = texts[at : at + batch_size]
                await pacer.admit(len(batch))
                await limit.acquire()
                tasks.append(asyncio.ensure_future(warm_batch(batch)))
    finally:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return totals


async def warm_all(
    targets: Targets,
    kinds: Sequence[Kind] = KINDS,
    batch_size: int = PAGE_SIZE,
    rate: float = 0.0,
    show_progress: bool = True,
    report: Callable[[str], None] = print,
) -> WarmTotals:
    """Each kind in its own section, reported as it ends; returns the whole run's totals."""
    overall = WarmTotals()
    pacer = Pacer(rate)
    async with targets.token_client() as tokens, targets.image_client() as images:
        for kind in kinds:
            section = await warm_kind(kind, tokens, images, batch_size, pacer, show_progress)
            overall.add(section)
            report(section.line(kind.plural))
    return overall


def _push(url: str, totals: WarmTotals, succeeded: bool) -> None:
    registry = CollectorRegistry()
    values = {
        "qrpass_warm_duration_seconds": ("Duration of the last warm run.", totals.seconds),
        "qrpass_warm_subjects": ("Subjects in the last warm run.", totals.total),
        "qrpass_warm_rendered": ("Images rendered by the last warm run.", totals.rendered),
        "qrpass_warm_already_cached": ("Images already cached in the last run.", totals.cached),
        "qrpass_warm_failed": ("Images that failed in the last warm run.", totals.failed),
        "qrpass_warm_last_run_timestamp_seconds": ("When the last warm run ended.", time.time()),
    }
    if succeeded:  # left out on failure, so the previous success keeps its time
        values["qrpass_warm_last_success_timestamp_seconds"] = (
            "When the last warm run that failed nothing ended.",
            time.time(),
        )
    for name, (text, value) in values.items():
        Gauge(name, text, registry=registry).set(value)
    by_reason = Gauge("qrpass_warm_failures", "Images that failed in the last warm run, by reason.",
                      ("reason",), registry=registry)  # fmt: skip
    for reason, count in totals.failures.items():
        by_reason.labels(reason).set(count)
    pushadd_to_gateway(url, job="qrpass_warm", registry=registry, timeout=10)


def warm(args: argparse.Namespace) -> int:
    async def command() -> int:
        targets = Targets.from_env()
        totals = WarmTotals()
        error: Exception | None = None
        kinds = [args.kind] if args.kind else KINDS
        try:
            totals = await warm_all(targets, kinds, args.batch_size, args.rate, not args.quiet)
        except Exception as failure:  # reported below; the push still records the failed run
            error = failure
        succeeded = error is None and totals.failed == 0
        print(totals.line("warm"))
        if args.pushgateway:
            try:
                _push(args.pushgateway, totals, succeeded)
            except OSError as failure:
                print(f"qrpass: could not push to {args.pushgateway}: {failure}", file=sys.stderr)
                return 1
        if error is not None:
            raise error
        if totals.failed:
            raise CommandFailed(
                f"{totals.failed} image(s) failed to render or store ({totals.reasons}); "
                "the image service's log says why, a line a batch"
            )
        return 0

    return run(command)


@with_images
async def stats(args: argparse.Namespace, images: ImageClient) -> int:
    reply = await images.cache_stats()
    print(f"backend      {reply.backend} ({'connected' if reply.connected else 'DISCONNECTED'})")
    print(f"entries      {reply.entries}")
    limit = f"{reply.max_memory_bytes / MIB:.1f} MiB" if reply.max_memory_bytes else "none"
    print(f"memory       {reply.memory_bytes / MIB:.1f} MiB (limit {limit})")
    print(f"evictions    {reply.evictions}")
    print(f"replica      {reply.replica} (hits, misses and bypasses are its own)")
    print(f"hits         {reply.hits}")
    print(f"misses       {reply.misses}")
    print(f"bypasses     {reply.bypasses}")
    print(f"hit ratio    {reply.hit_ratio:.1%}")
    return 0


@with_images
async def clear(args: argparse.Namespace, images: ImageClient) -> int:
    reply = await images.clear_cache(timeout=CLEAR_DEADLINE_SECONDS)
    print(f"deleted {reply.deleted} cached image(s)")
    return 0


@with_images
async def invalidate(args: argparse.Namespace, images: ImageClient) -> int:
    reply = await images.invalidate_all(args.token)
    print(f"deleted {reply.deleted} cached image(s) of that pass")
    return 0
