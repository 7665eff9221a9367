"""Follows the token service's change stream and keeps the near-cache coherent with it."""

from __future__ import annotations

import asyncio
import logging

import grpc

from gateway.nearcache import NearCache
from qrpass.core.clients import TokenClient
from qrpass.vocabulary import BY_VALUE

log = logging.getLogger(__name__)

_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0


async def follow_changes(token: TokenClient, cache: NearCache) -> None:
    """Run until cancelled; while the stream is down the cache serves nothing."""
    delay = _FIRST_RETRY_SECONDS
    while True:
        try:
            async for message in token.watch():
                if message.reset:
                    cache.reset(message.sequence)
                else:
                    changed = [(BY_VALUE[s.kind].plural, s.id) for s in message.subjects]
                    cache.changed(message.sequence, changed)
                delay = _FIRST_RETRY_SECONDS
            log.info("change stream ended; reconnecting")
        except grpc.aio.AioRpcError as error:
            if delay == _FIRST_RETRY_SECONDS:
                log.warning("change stream broke (%s); near-cache off", error.code().name)
        cache.disconnected()
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_RETRY_SECONDS)
