"""The gateway's gRPC clients: one channel per backend, deadlines and request ids on every call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from gateway.errors import from_rpc_error
from gateway.settings import GatewaySettings
from qrpass.core.channels import create_channel
from qrpass.core.grpc_metrics import ClientMetrics
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc

TOKEN, IMAGE = "token_service", "image_service"
_SERVICE_NAMES = {TOKEN: "qrpass.token.v1.TokenService", IMAGE: "qrpass.image.v1.ImageService"}


class Backends:
    """Channels and stubs to token_service and image_service; open for the app's lifetime."""

    def __init__(self, settings: GatewaySettings, registry: CollectorRegistry) -> None:
        tls = settings.common.tls
        self._channels = {
            TOKEN: create_channel(settings.token_target, tls),
            IMAGE: create_channel(settings.image_target, tls),
        }
        self._stubs = {
            TOKEN: token_grpc.TokenServiceStub(self._channels[TOKEN]),
            IMAGE: image_grpc.ImageServiceStub(self._channels[IMAGE]),
        }
        self._metrics = ClientMetrics(registry)
        self.deadline = settings.deadline_seconds

    async def call(
        self, backend: str, method: str, request: Any, request_id: str, timeout: float | None = None
    ) -> Any:
        """One RPC with a deadline, the request id and metrics; failures become ApiError."""
        service = _SERVICE_NAMES[backend]
        self._metrics.started(service, method)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await getattr(self._stubs[backend], method)(
                request,
                timeout=timeout or self.deadline,
                metadata=(("x-request-id", request_id),),
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            budget = timeout or self.deadline
            if code == grpc.StatusCode.CANCELLED and time.perf_counter() - start >= budget * 0.95:
                # The server cancels a call whose deadline passed and may say so before our own
                # timer does; for the caller it is our deadline, a 504, not a 499.
                code = grpc.StatusCode.DEADLINE_EXCEEDED
                raise from_rpc_error(error, backend, code) from None
            raise from_rpc_error(error, backend) from None
        finally:
            self._metrics.handled(service, method, code, time.perf_counter() - start)

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
