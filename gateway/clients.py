"""The gateway's typed gRPC clients: one channel per backend, deadlines and request ids on every
call, client metrics, and failures mapped to ApiError at this one boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from gateway.errors import from_rpc_error
from gateway.settings import GatewaySettings
from qrpass.core.channels import create_channel
from qrpass.core.grpc_metrics import ClientMetrics
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc

R = TypeVar("R")


class _Backend:
    """A channel to one service; `_call` is the only place an RPC is made."""

    name: str  # how errors name the backend: "token_service", "image_service"
    service: str  # the full proto service name, for metrics
    stub_class: Callable[[grpc.aio.Channel], Any]  # the generated stub

    def __init__(self, channel: grpc.aio.Channel, metrics: ClientMetrics, deadline: float) -> None:
        self.channel = channel
        self._stub = self.stub_class(channel)
        self._metrics = metrics
        self._deadline = deadline

    async def _call(
        self,
        method: str,
        rpc: Callable[..., Awaitable[R]],
        request: object,
        request_id: str,
        timeout: float | None = None,
    ) -> R:
        """One RPC with a deadline, the request id and metrics; failures become ApiError."""
        budget = timeout or self._deadline
        self._metrics.started(self.service, method)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await rpc(request, timeout=budget, metadata=(("x-request-id", request_id),))
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.CANCELLED and time.perf_counter() - start >= budget * 0.95:
                # The server cancels a call whose deadline passed and may say so before our own
                # timer does; for the caller it is our deadline, a 504, not a 499.
                code = grpc.StatusCode.DEADLINE_EXCEEDED
            raise from_rpc_error(error, self.name, code) from None
        finally:
            self._metrics.handled(self.service, method, code, time.perf_counter() - start)

    async def health(self) -> str:
        """The backend's gRPC health status, with a short deadline."""
        try:
            reply = await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(), timeout=0.5
            )
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower()
        except grpc.aio.AioRpcError as error:
            return f"unavailable ({error.code().name.lower()})"


class TokenClient(_Backend):
    """qrpass.token.v1.TokenService."""

    name, service = "token_service", "qrpass.token.v1.TokenService"
    stub_class = token_grpc.TokenServiceStub

    async def issue(
        self, kind: int, subject_id: str, rid: str, min_sequence: int = 0
    ) -> token_pb.IssueTokenResponse:
        request = token_pb.IssueTokenRequest(
            kind=kind, subject_id=subject_id, min_sequence=min_sequence
        )
        return await self._call("IssueToken", self._stub.IssueToken, request, rid)

    async def verify(
        self, token: str, expected_kind: int, rid: str, min_sequence: int = 0
    ) -> token_pb.VerifyTokenResponse:
        request = token_pb.VerifyTokenRequest(
            token=token, expected_kind=expected_kind, min_sequence=min_sequence
        )
        return await self._call("VerifyToken", self._stub.VerifyToken, request, rid)

    async def rotate(self, kind: int, subject_id: str, rid: str) -> token_pb.RotateTokenResponse:
        request = token_pb.RotateTokenRequest(kind=kind, subject_id=subject_id)
        return await self._call("RotateToken", self._stub.RotateToken, request, rid)

    async def delete(self, kind: int, subject_id: str, rid: str) -> token_pb.DeleteSubjectResponse:
        request = token_pb.DeleteSubjectRequest(kind=kind, subject_id=subject_id)
        return await self._call("DeleteSubject", self._stub.DeleteSubject, request, rid)

    async def import_subjects(
        self, kind: int, content: bytes, rid: str, timeout: float
    ) -> token_pb.ImportSubjectsResponse:
        request = token_pb.ImportSubjectsRequest(kind=kind, content=content)
        return await self._call("ImportSubjects", self._stub.ImportSubjects, request, rid, timeout)

    async def check_in(
        self, request: token_pb.CheckInRequest, rid: str
    ) -> token_pb.CheckInResponse:
        return await self._call("CheckIn", self._stub.CheckIn, request, rid)

    async def batch_check_in(
        self, request: token_pb.BatchCheckInRequest, rid: str, timeout: float
    ) -> token_pb.BatchCheckInResponse:
        return await self._call("BatchCheckIn", self._stub.BatchCheckIn, request, rid, timeout)

    async def list_scans(
        self, request: token_pb.ListScansRequest, rid: str
    ) -> token_pb.ListScansResponse:
        return await self._call("ListScans", self._stub.ListScans, request, rid)

    async def prune_scans(
        self, request: token_pb.PruneScansRequest, rid: str
    ) -> token_pb.PruneScansResponse:
        return await self._call("PruneScans", self._stub.PruneScans, request, rid, timeout=60)

    async def revocations(self, since: str, rid: str) -> token_pb.ListRevocationsResponse:
        request = token_pb.ListRevocationsRequest(since=since)
        return await self._call("ListRevocations", self._stub.ListRevocations, request, rid)

    async def jwks(self, rid: str) -> token_pb.GetJwksResponse:
        return await self._call("GetJwks", self._stub.GetJwks, token_pb.GetJwksRequest(), rid)

    def watch(self) -> AsyncIterator[token_pb.WatchSubjectChangesResponse]:
        """The change stream; no deadline, it lasts until the replica or the channel goes."""
        call: Any = self._stub.WatchSubjectChanges(token_pb.WatchSubjectChangesRequest())
        return call


class ImageClient(_Backend):
    """qrpass.image.v1.ImageService."""

    name, service = "image_service", "qrpass.image.v1.ImageService"
    stub_class = image_grpc.ImageServiceStub

    async def render(
        self, text: str, options: image_pb.RenderOptions | None, rid: str
    ) -> image_pb.RenderQrCodeResponse:
        request = image_pb.RenderQrCodeRequest(text=text, options=options)
        return await self._call("RenderQrCode", self._stub.RenderQrCode, request, rid)

    async def cache_stats(self, rid: str) -> image_pb.GetCacheStatsResponse:
        request = image_pb.GetCacheStatsRequest()
        return await self._call("GetCacheStats", self._stub.GetCacheStats, request, rid)

    async def clear_cache(self, rid: str, timeout: float) -> image_pb.ClearCacheResponse:
        request = image_pb.ClearCacheRequest()
        return await self._call("ClearCache", self._stub.ClearCache, request, rid, timeout)


class Backends:
    """Both clients, open for the app's lifetime."""

    def __init__(self, settings: GatewaySettings, registry: CollectorRegistry) -> None:
        tls, metrics, deadline = (
            settings.common.tls,
            ClientMetrics(registry),
            settings.deadline_seconds,
        )
        self.token = TokenClient(create_channel(settings.token_target, tls), metrics, deadline)
        self.image = ImageClient(create_channel(settings.image_target, tls), metrics, deadline)

    async def health(self) -> dict[str, str]:
        """Each backend's gRPC health status, checked in parallel."""
        token, image = await asyncio.gather(self.token.health(), self.image.health())
        return {self.token.name: token, self.image.name: image}

    async def close(self) -> None:
        await asyncio.gather(self.token.channel.close(), self.image.channel.close())
