"""The gateway's gRPC clients: one channel per backend, deadlines and request ids on every call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from gateway.errors import from_rpc_error
from gateway.settings import GatewaySettings
from qrpass.core.channels import create_channel
from qrpass.core.grpc_metrics import ClientInterceptor
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc

Reply = TypeVar("Reply")
TOKEN, IMAGE = "token_service", "image_service"


class Backends:
    """Channels and stubs to token_service and image_service; open for the app's lifetime."""

    def __init__(self, settings: GatewaySettings, registry: CollectorRegistry) -> None:
        interceptors = [ClientInterceptor(registry)]
        tls = settings.common.tls
        self._channels = {
            TOKEN: create_channel(settings.token_target, tls, interceptors),
            IMAGE: create_channel(settings.image_target, tls, interceptors),
        }
        self.tokens = token_grpc.TokenServiceStub(self._channels[TOKEN])
        self.images = image_grpc.ImageServiceStub(self._channels[IMAGE])
        self.deadline = settings.deadline_seconds

    async def call(
        self,
        backend: str,
        method: Callable[..., Awaitable[Reply]],
        request: Any,
        request_id: str,
        timeout: float | None = None,
    ) -> Reply:
        """One RPC with a deadline and the request id; gRPC failures become ApiError."""
        try:
            return await method(
                request,
                timeout=timeout or self.deadline,
                metadata=(("x-request-id", request_id),),
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, backend) from None

    async def health(self) -> dict[str, str]:
        """Each backend's gRPC health status, checked in parallel with a short deadline."""

        async def check(channel: grpc.aio.Channel) -> str:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=0.5
                )
                return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower()
            except grpc.aio.AioRpcError as error:
                return f"unavailable ({error.code().name.lower()})"

        names = list(self._channels)
        statuses = await asyncio.gather(*(check(self._channels[n]) for n in names))
        return dict(zip(names, statuses, strict=True))

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self._channels.values()))
