"""Concurrent misses answered together: the default images they need, in one RenderQrCodes call.

A crowd whose passes are not in the near-cache arrives many requests to an event-loop turn.
Each would pay a gRPC call of its own (about 0.13 ms of CPU a side); gathered, they pay one
call a batch. While `MAX_IN_FLIGHT` calls are out, new misses wait and form the next batch,
so the batch grows with the load and a lone request goes at once.
"""

from __future__ import annotations

import asyncio
import contextvars

from qrpass.core.clients import ImageClient
from qrpass.image.v1 import image_service_pb2 as image_pb

MAX_BATCH = 500
MAX_IN_FLIGHT = 2

# (text, request id, the caller's context, its answer). The context: a batch's call is made in
# its first caller's, so the call's span joins that request's trace.
_Waiting = tuple[str, str, contextvars.Context, "asyncio.Future[image_pb.RenderedQrCode]"]


class RenderBatcher:
    """`render(token)` from many tasks; the calls go out in batches."""

    def __init__(self, images: ImageClient) -> None:
        self._images = images
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._scheduled = False
        self._calls: set[asyncio.Future[None]] = set()  # held, so none is collected mid-call

    async def render(self, text: str, request_id: str = "") -> image_pb.RenderedQrCode:
        future: asyncio.Future[image_pb.RenderedQrCode] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, request_id, contextvars.copy_context(), future))
        if not self._scheduled:  # at the end of this turn, with whatever else arrived in it
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < MAX_IN_FLIGHT:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._in_flight += 1
            call = asyncio.get_running_loop().create_task(self._send(batch), context=batch[0][2])
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            reply = await self._images.render_many(
                [text for text, *_ in batch], request_id=batch[0][1]
            )
        except Exception as error:  # every waiter hears it (an ApiError, or a 500)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (*_, future), code in zip(batch, reply.codes, strict=True):
                if not future.done():  # a caller that gave up is skipped
                    future.set_result(code)
        finally:
            self._in_flight -= 1
            self._flush()
