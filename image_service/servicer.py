"""ImageService servicer: translates proto to the image book and back."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import grpc

from image_service.images import ImageBook, Status
from image_service.render import RenderOptions
from qrpass.image.v1 import image_service_pb2 as pb
from qrpass.image.v1 import image_service_pb2_grpc as pb_grpc
from qrpass.vocabulary import DEFAULT_EC_LEVEL, EC_LEVEL_VALUES

_FORMATS = {
    pb.IMAGE_FORMAT_UNSPECIFIED: "png",
    pb.IMAGE_FORMAT_PNG: "png",
    pb.IMAGE_FORMAT_SVG: "svg",
}
_LEVELS = {
    pb.ERROR_CORRECTION_LEVEL_UNSPECIFIED: DEFAULT_EC_LEVEL,
    **{value: level for level, value in EC_LEVEL_VALUES.items()},
}
_STATUS = {
    Status.HIT: pb.CACHE_STATUS_HIT,
    Status.MISS: pb.CACHE_STATUS_MISS,
    Status.BYPASS: pb.CACHE_STATUS_BYPASS,
}


def options_from(message: pb.RenderOptions) -> RenderOptions:
    """Validated options; unknown enum numbers read as the invalid names they are."""
    return RenderOptions.checked(
        format=_FORMATS.get(message.format, f"format {message.format}"),
        scale=message.scale if message.HasField("scale") else None,
        border=message.border if message.HasField("border") else None,
        ec_level=_LEVELS.get(message.error_correction, str(message.error_correction)),
        dark=message.dark_color,
        light=message.light_color,
    )


class ImageServicer(pb_grpc.ImageServiceServicer):
    """Thin: every decision lives in the image book."""

    def __init__(self, book: ImageBook) -> None:
        self._book = book

    async def RenderQrCode(
        self, request: pb.RenderQrCodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RenderQrCodeResponse:
        image = await self._book.get(request.text, options_from(request.options))
        return pb.RenderQrCodeResponse(
            image=image.data,
            content_type=image.content_type,
            etag=image.etag,
            cache_status=_STATUS[image.status],
        )

    async def RenderQrCodes(
        self, request: pb.RenderQrCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RenderQrCodesResponse:
        options = options_from(request.options)
        images = await self._book.get_many(
            list(request.texts), options, cached_only=request.cached_only
        )
        return pb.RenderQrCodesResponse(
            content_type=options.content_type,
            codes=[
                pb.RenderedQrCode(
                    image=image.data, etag=image.etag, cache_status=_STATUS[image.status]
                )
                if image is not None
                else pb.RenderedQrCode()
                for image in images
            ],
        )

    async def WarmQrCodes(
        self, request: pb.WarmQrCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.WarmQrCodesResponse:
        counts = await self._book.warm(list(request.texts), options_from(request.options))
        return pb.WarmQrCodesResponse(**dataclasses.asdict(counts))  # the same fields

    async def InvalidateQrCode(
        self, request: pb.InvalidateQrCodeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.InvalidateQrCodeResponse:
        deleted = await self._book.invalidate(request.text, options_from(request.options))
        return pb.InvalidateQrCodeResponse(deleted=deleted)

    async def InvalidateQrCodes(
        self, request: pb.InvalidateQrCodesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.InvalidateQrCodesResponse:
        return pb.InvalidateQrCodesResponse(deleted=await self._book.invalidate_all(request.text))

    async def ClearCache(
        self, request: pb.ClearCacheRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ClearCacheResponse:
        return pb.ClearCacheResponse(deleted=await self._book.clear())

    async def GetCacheStats(
        self, request: pb.GetCacheStatsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetCacheStatsResponse:
        stats = await self._book.stats()
        return pb.GetCacheStatsResponse(
            backend=stats.backend.backend,
            connected=stats.backend.connected,
            entries=stats.backend.entries,
            memory_bytes=stats.backend.memory_bytes,
            max_memory_bytes=stats.backend.max_memory_bytes,
            evictions=stats.backend.evictions,
            replica=socket.gethostname(),
            hits=stats.hits,
            misses=stats.misses,
            bypasses=stats.bypasses,
            hit_ratio=stats.hit_ratio,
        )
