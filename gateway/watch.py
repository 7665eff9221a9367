"""Follows the token service's change stream and keeps the near-cache coherent with it.

The stream is asked for tokens, so the near-cache's directory holds every current token, and is
resumed after the last position it delivered, so a break costs only the changes made meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from gateway.nearcache import Key, NearCache
from qrpass.core.clients import TokenClient
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import BY_VALUE

log = logging.getLogger(__name__)

_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0
RESET_REASONS = {
    value: token_pb.ResetReason.Name(value).removeprefix("RESET_REASON_").lower()
    for value in token_pb.ResetReason.values()
}


def _key(subject: token_pb.Subject) -> Key:
    return BY_VALUE[subject.kind].plural, subject.id


def apply(cache: NearCache, message: token_pb.WatchSubjectChangesResponse) -> None:
    """One message of the stream, applied before the cache is told the stream spoke."""
    if message.reset:
        cache.reset(message.sequence, RESET_REASONS[message.reset_reason])
    tokens = {_key(t.subject): t.token for t in message.tokens}
    if message.subjects:
        cache.changed([_key(s) for s in message.subjects], tokens)
    elif tokens:
        cache.listed(tokens)
    cache.heard(message.sequence, whole=not message.partial)


async def follow_changes(
    token: TokenClient, cache: NearCache, on_whole: Callable[[], None] = lambda: None
) -> None:
    """Run until cancelled; while the stream is down the cache serves nothing. `on_whole` is
    called whenever the cache is whole again after tokens arrived (the filler's cue)."""
    delay = _FIRST_RETRY_SECONDS
    while True:
        try:
            learned = False
            async for message in token.watch(cache.position, include_tokens=True):
                apply(cache, message)
                learned = learned or bool(message.tokens)
                if learned and not message.partial:
                    on_whole()
                    learned = False
                delay = _FIRST_RETRY_SECONDS
            log.info("change stream ended; resuming")
        except grpc.aio.AioRpcError as error:
            if delay == _FIRST_RETRY_SECONDS:
                log.warning("change stream broke (%s); near-cache paused", error.code().name)
        cache.disconnected()
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_RETRY_SECONDS)
