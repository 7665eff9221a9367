"""Fills the near-cache before the crowd: the image of every known token, from the image cache.

After a snapshot or a batch of changes, and every few seconds while something is missing (a
warm may be under way), the filler asks the image service for the images it lacks, a batch a
call, from the cache only: it never renders (that is the warm's job) and never evicts (what
serving put there stays). One call at a time, with the event loop free between calls, so a
gateway filling 25,000 passes keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.errors import ApiError
from gateway.nearcache import Entry, NearCache
from qrpass.core.clients import ImageClient

log = logging.getLogger(__name__)

BATCH = 500  # texts a call: about 0.7 MB of PNGs an answer
FIRST_PAUSE_SECONDS = 5.0  # between rounds while images are missing...
LAST_PAUSE_SECONDS = 30.0  # ...doubling up to this while rounds find nothing new
_CALL_SECONDS = 10.0
_TYPICAL_ENTRY_BYTES = 2000  # stop asking once an entry of this size would not fit


class Filler:
    """Runs until cancelled; `wake` starts a round at once."""

    def __init__(self, cache: NearCache, images: ImageClient) -> None:
        self._cache = cache
        self._images = images
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
            self._wake.clear()
            if not self._cache.live:
                continue
            added, _ = await self.fill_round()
            pause = FIRST_PAUSE_SECONDS if added else min(pause * 2, LAST_PAUSE_SECONDS)

    async def fill_round(self) -> tuple[int, int]:
        """One pass over what is missing; returns (entries added, images still missing)."""
        cache, added, missing = self._cache, 0, 0
        todo = cache.unfilled()
        for start in range(0, len(todo), BATCH):
            if not cache.live or not cache.has_room(_TYPICAL_ENTRY_BYTES):
                break
            batch = todo[start : start + BATCH]
            try:
                reply = await self._images.render_many(
                    [token for _, token in batch], cached_only=True, timeout=_CALL_SECONDS
                )
            except ApiError as error:
                log.warning("near-cache fill paused: %s", error.detail)
                break
            for (key, token), code in zip(batch, reply.codes, strict=True):
                if not code.image:
                    missing += 1
                elif cache.fill(key, Entry(token, code.image, code.etag)):
                    added += 1
            await asyncio.sleep(0)  # requests waiting on the loop go first
        return added, missing
