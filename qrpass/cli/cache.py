"""Cache commands: `warm` (every subject's pass into the cache), `stats`, `cache clear` and
`cache invalidate TOKEN`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway
from tqdm import tqdm

from qrpass.cli.rpc import CommandFailed, Targets, run
from qrpass.vocabulary import KINDS

PAGE_SIZE = 1000
BATCHES_IN_FLIGHT = 4  # keeps every render worker busy while the next page is listed
WARM_DEADLINE_SECONDS = 120.0
CLEAR_DEADLINE_SECONDS = 300.0


@dataclass
class WarmTotals:
    """What a warm run did, summed over its batches."""

    total: int = 0
    cached: int = 0
    rendered: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return (self.rendered + self.cached) / self.seconds if self.seconds > 0 else 0.0


async def warm_all(targets: Targets, show_progress: bool = True) -> WarmTotals:
    totals = WarmTotals()
    tokens, images = targets.token_client(), targets.image_client()
    limit = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    bar = tqdm(total=0, unit="QR", disable=not show_progress, file=sys.stderr, dynamic_ncols=True)

    async def warm_batch(texts: list[str]) -> None:
        try:
            reply = await images.warm(texts, timeout=WARM_DEADLINE_SECONDS)
            totals.cached += reply.already_cached
            totals.rendered += reply.rendered
            totals.failed += reply.failed
        except Exception:
            totals.failed += len(texts)
            raise
        finally:
            limit.release()
            bar.update(len(texts))

    async with tokens, images:
        tasks = []
        for kind in KINDS:
            first = True
            async for page in tokens.pages(kind, PAGE_SIZE):
                if first:
                    totals.total += page.total_size
                    bar.total = totals.total
                    first = False
                texts = [entry.token for entry in page.subject_tokens]
                if texts:
                    await limit.acquire()
                    tasks.append(asyncio.ensure_future(warm_batch(texts)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
    bar.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return totals


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
    pushadd_to_gateway(url, job="qrpass_warm", registry=registry, timeout=10)


def warm(args: argparse.Namespace) -> int:
    async def command() -> int:
        targets = Targets.from_env()
        totals = WarmTotals()
        error: Exception | None = None
        try:
            totals = await warm_all(targets, show_progress=not args.quiet)
        except Exception as failure:  # reported below; the push still records the failed run
            error = failure
        succeeded = error is None and totals.failed == 0
        print(
            f"warm: total {totals.total}, cached {totals.cached}, rendered {totals.rendered}, "
            f"failed {totals.failed}, {totals.seconds:.1f} s, {totals.rate:.0f} QR/s"
        )
        if args.pushgateway:
            try:
                _push(args.pushgateway, totals, succeeded)
            except OSError as failure:
                print(f"qrpass: could not push to {args.pushgateway}: {failure}", file=sys.stderr)
                return 1
        if error is not None:
            raise error
        if totals.failed:
            raise CommandFailed(f"{totals.failed} image(s) failed to render or store")
        return 0

    return run(command)


def stats(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().image_client() as images:
            reply = await images.cache_stats()
        print(
            f"backend      {reply.backend} ({'connected' if reply.connected else 'DISCONNECTED'})"
        )
        print(f"entries      {reply.entries}")
        print(f"memory       {reply.memory_bytes / 1024 / 1024:.1f} MiB")
        print(f"hits         {reply.hits}")
        print(f"misses       {reply.misses}")
        print(f"bypasses     {reply.bypasses}")
        print(f"hit ratio    {reply.hit_ratio:.1%}")
        return 0

    return run(command)


def clear(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().image_client() as images:
            reply = await images.clear_cache(timeout=CLEAR_DEADLINE_SECONDS)
        print(f"deleted {reply.deleted} cached image(s)")
        return 0

    return run(command)


def invalidate(args: argparse.Namespace) -> int:
    async def command() -> int:
        async with Targets.from_env().image_client() as images:
            reply = await images.invalidate_all(args.token)
        print(f"deleted {reply.deleted} cached image(s) of that pass")
        return 0

    return run(command)
