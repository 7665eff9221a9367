"""Typed async clients of both services, shared by the gateway, the CLI and the bench.

Each method takes the domain's words (a `Kind`, an id, a token) and returns the generated
response type, so a misspelt method or field is a type error, not a runtime one. Every call goes
through `ServiceClient._call`: one deadline, the request id, client metrics, and the caller's
error mapping (the gateway turns failures into HTTP problems; the CLI prints them).
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qrpass.core.channels import create_channel
from qrpass.core.config import ENVIRON, CommonSettings, Env, TlsSettings
from qrpass.core.grpc_metrics import ClientMetrics
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.image.v1 import image_service_pb2_grpc as image_grpc
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from qrpass.vocabulary import Kind

DEFAULT_DEADLINE_SECONDS = 30.0
_HEALTH_DEADLINE_SECONDS = 0.5

RequestT = TypeVar("RequestT", bound=Message)
ResponseT = TypeVar("ResponseT", bound=Message)

# Turns a failed call into the caller's exception: (error, backend name, effective code).
ErrorMapper = Callable[[grpc.aio.AioRpcError, str, grpc.StatusCode], Exception]


class _UnaryRpc(Protocol[RequestT, ResponseT]):
    """A generated stub's unary method, as grpc.aio types it."""

    def __call__(
        self,
        request: RequestT,
        *,
        timeout: float | None = ...,
        metadata: tuple[tuple[str, str], ...] | None = ...,
    ) -> grpc.aio.UnaryUnaryCall[RequestT, ResponseT]: ...


_METHOD_NAMES: dict[type[Message], str] = {}


def method_name(request_type: type[Message]) -> str:
    """`IssueTokenRequest` → `IssueToken`: buf's RPC_REQUEST_STANDARD_NAME rule makes every
    request message its method's name plus "Request", so metrics need no name in a string."""
    name = _METHOD_NAMES.get(request_type)
    if name is None:
        name = _METHOD_NAMES[request_type] = request_type.DESCRIPTOR.name.removesuffix("Request")
    return name


@dataclass(frozen=True)
class CallPolicy:
    """How a client calls: the default deadline, the client metrics (none: not counted), what a
    failure becomes (none: the AioRpcError itself), and its channel's interceptors."""

    deadline: float = DEFAULT_DEADLINE_SECONDS
    metrics: ClientMetrics | None = None
    on_error: ErrorMapper | None = None
    interceptors: Sequence[grpc.aio.ClientInterceptor] = ()  # the channel's (traces)


class ServiceClient:
    """A channel to one service; `_call` is the only place an RPC is made."""

    name: str  # how errors name the backend: "token_service", "image_service"
    service: str  # the full proto service name, for metrics

    def __init__(self, channel: grpc.aio.Channel, policy: CallPolicy = CallPolicy()) -> None:
        self.channel = channel
        self._policy = policy

    @classmethod
    def connect(cls, target: str, tls: TlsSettings, policy: CallPolicy = CallPolicy()) -> Self:
        """A client on a new channel to `target` (any gRPC target syntax)."""
        return cls(create_channel(target, tls, policy.interceptors), policy)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def _call(
        self,
        rpc: _UnaryRpc[RequestT, ResponseT],
        request: RequestT,
        *,
        request_id: str = "",
        timeout: float | None = None,
    ) -> ResponseT:
        """One RPC with a deadline, the request id and metrics; failures go to `on_error`."""
        metrics, on_error = self._policy.metrics, self._policy.on_error
        budget = timeout or self._policy.deadline
        method = method_name(type(request))
        if metrics is not None:
            metrics.started(self.service, method)
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            return await rpc(request, timeout=budget, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.CANCELLED and time.perf_counter() - start >= budget * 0.95:
                # The server cancels a call whose deadline passed and may say so before our own
                # timer does; for the caller it is our deadline, not a cancellation.
                code = grpc.StatusCode.DEADLINE_EXCEEDED
            if on_error is None:
                raise
            raise on_error(error, self.name, code) from None
        finally:
            if metrics is not None:
                metrics.handled(self.service, method, code, time.perf_counter() - start)

    async def health(self, timeout: float = _HEALTH_DEADLINE_SECONDS) -> str:
        """The service's gRPC health status in lower case ("serving"), or why it is unknown."""
        try:
            reply = await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)).lower()
        except grpc.aio.AioRpcError as error:
            return f"unavailable ({error.code().name.lower()})"


class TokenClient(ServiceClient):
    """qrpass.token.v1.TokenService."""

    name, service = "token_service", "qrpass.token.v1.TokenService"

    @functools.cached_property
    def _stub(self) -> token_grpc.TokenServiceAsyncStub:
        return token_grpc.TokenServiceStub(self.channel)

    async def issue(
        self, kind: Kind, subject_id: str, *, min_sequence: int = 0, request_id: str = ""
    ) -> token_pb.IssueTokenResponse:
        request = token_pb.IssueTokenRequest(
            kind=kind.value, subject_id=subject_id, min_sequence=min_sequence
        )
        return await self._call(self._stub.IssueToken, request, request_id=request_id)

    async def verify(
        self,
        token: str,
        *,
        expected_kind: Kind | None = None,
        min_sequence: int = 0,
        request_id: str = "",
    ) -> token_pb.VerifyTokenResponse:
        request = token_pb.VerifyTokenRequest(
            token=token,
            expected_kind=expected_kind.value
            if expected_kind
            else token_pb.SUBJECT_KIND_UNSPECIFIED,
            min_sequence=min_sequence,
        )
        return await self._call(self._stub.VerifyToken, request, request_id=request_id)

    async def rotate(
        self, kind: Kind, subject_id: str, *, request_id: str = ""
    ) -> token_pb.RotateTokenResponse:
        request = token_pb.RotateTokenRequest(kind=kind.value, subject_id=subject_id)
        return await self._call(self._stub.RotateToken, request, request_id=request_id)

    async def delete(
        self, kind: Kind, subject_id: str, *, request_id: str = ""
    ) -> token_pb.DeleteSubjectResponse:
        request = token_pb.DeleteSubjectRequest(kind=kind.value, subject_id=subject_id)
        return await self._call(self._stub.DeleteSubject, request, request_id=request_id)

    async def list_tokens(
        self, kind: Kind, *, page_size: int, page_token: str = ""
    ) -> token_pb.ListTokensResponse:
        request = token_pb.ListTokensRequest(
            kind=kind.value, page_size=page_size, page_token=page_token
        )
        return await self._call(self._stub.ListTokens, request)

    async def pages(self, kind: Kind, page_size: int) -> AsyncIterator[token_pb.ListTokensResponse]:
        """Every page of the kind's subjects with their tokens, in id order."""
        page_token = ""
        while True:
            page = await self.list_tokens(kind, page_size=page_size, page_token=page_token)
            yield page
            page_token = page.next_page_token
            if not page_token:
                return

    async def import_subjects(
        self, kind: Kind, content: bytes, *, timeout: float, request_id: str = ""
    ) -> token_pb.ImportSubjectsResponse:
        request = token_pb.ImportSubjectsRequest(kind=kind.value, content=content)
        return await self._call(
            self._stub.ImportSubjects, request, request_id=request_id, timeout=timeout
        )

    async def check_in(
        self, request: token_pb.CheckInRequest, *, request_id: str = ""
    ) -> token_pb.CheckInResponse:
        return await self._call(self._stub.CheckIn, request, request_id=request_id)

    async def batch_check_in(
        self, request: token_pb.BatchCheckInRequest, *, timeout: float, request_id: str = ""
    ) -> token_pb.BatchCheckInResponse:
        return await self._call(
            self._stub.BatchCheckIn, request, request_id=request_id, timeout=timeout
        )

    async def list_scans(
        self, request: token_pb.ListScansRequest, *, request_id: str = ""
    ) -> token_pb.ListScansResponse:
        return await self._call(self._stub.ListScans, request, request_id=request_id)

    async def prune_scans(
        self, before: Timestamp, *, timeout: float, request_id: str = ""
    ) -> token_pb.PruneScansResponse:
        request = token_pb.PruneScansRequest(before=before)
        return await self._call(
            self._stub.PruneScans, request, request_id=request_id, timeout=timeout
        )

    async def revocations(
        self, since: str = "", *, request_id: str = ""
    ) -> token_pb.ListRevocationsResponse:
        request = token_pb.ListRevocationsRequest(since=since)
        return await self._call(self._stub.ListRevocations, request, request_id=request_id)

    async def jwks(self, *, request_id: str = "") -> token_pb.GetJwksResponse:
        request = token_pb.GetJwksRequest()
        return await self._call(self._stub.GetJwks, request, request_id=request_id)

    def watch(
        self, after_sequence: int = 0, *, include_tokens: bool = False
    ) -> AsyncIterable[token_pb.WatchSubjectChangesResponse]:
        """The change stream, resumed after `after_sequence` when the log holds it; no
        deadline, it lasts until the replica or the channel goes."""
        request = token_pb.WatchSubjectChangesRequest(
            after_sequence=after_sequence, include_tokens=include_tokens
        )
        return self._stub.WatchSubjectChanges(request)


class ImageClient(ServiceClient):
    """qrpass.image.v1.ImageService."""

    name, service = "image_service", "qrpass.image.v1.ImageService"

    @functools.cached_property
    def _stub(self) -> image_grpc.ImageServiceAsyncStub:
        return image_grpc.ImageServiceStub(self.channel)

    async def render(
        self, text: str, options: image_pb.RenderOptions | None = None, *, request_id: str = ""
    ) -> image_pb.RenderQrCodeResponse:
        request = image_pb.RenderQrCodeRequest(text=text, options=options)
        return await self._call(self._stub.RenderQrCode, request, request_id=request_id)

    async def render_many(
        self,
        texts: list[str],
        *,
        cached_only: bool = False,
        timeout: float | None = None,
        request_id: str = "",
    ) -> image_pb.RenderQrCodesResponse:
        """Default images of many texts in one call, in their order."""
        request = image_pb.RenderQrCodesRequest(texts=texts, cached_only=cached_only)
        return await self._call(
            self._stub.RenderQrCodes, request, timeout=timeout, request_id=request_id
        )

    async def warm(self, texts: list[str], *, timeout: float) -> image_pb.WarmQrCodesResponse:
        request = image_pb.WarmQrCodesRequest(texts=texts)
        return await self._call(self._stub.WarmQrCodes, request, timeout=timeout)

    async def invalidate(self, text: str) -> image_pb.InvalidateQrCodeResponse:
        request = image_pb.InvalidateQrCodeRequest(text=text)
        return await self._call(self._stub.InvalidateQrCode, request)

    async def invalidate_all(
        self, text: str, *, request_id: str = ""
    ) -> image_pb.InvalidateQrCodesResponse:
        request = image_pb.InvalidateQrCodesRequest(text=text)
        return await self._call(self._stub.InvalidateQrCodes, request, request_id=request_id)

    async def cache_stats(self, *, request_id: str = "") -> image_pb.GetCacheStatsResponse:
        request = image_pb.GetCacheStatsRequest()
        return await self._call(self._stub.GetCacheStats, request, request_id=request_id)

    async def clear_cache(
        self, *, timeout: float, request_id: str = ""
    ) -> image_pb.ClearCacheResponse:
        request = image_pb.ClearCacheRequest()
        return await self._call(
            self._stub.ClearCache, request, request_id=request_id, timeout=timeout
        )


@dataclass(frozen=True)
class Targets:
    """Where both services are (TOKEN_SERVICE_ADDR, IMAGE_SERVICE_ADDR: any gRPC target), and
    the TLS settings to reach them with."""

    token: str
    image: str
    tls: TlsSettings

    @classmethod
    def from_env(cls, env: Env = ENVIRON, tls: TlsSettings | None = None) -> Targets:
        """`tls`: the caller's, when it has read them already."""
        return cls(
            token=env.str("TOKEN_SERVICE_ADDR", "127.0.0.1:50051"),
            image=env.str("IMAGE_SERVICE_ADDR", "127.0.0.1:50052"),
            tls=tls or CommonSettings.from_env(env).tls,
        )

    def token_client(self, policy: CallPolicy = CallPolicy()) -> TokenClient:
        """A client of the token service; use it as `async with`."""
        return TokenClient.connect(self.token, self.tls, policy)

    def image_client(self, policy: CallPolicy = CallPolicy()) -> ImageClient:
        """A client of the image service; use it as `async with`."""
        return ImageClient.connect(self.image, self.tls, policy)
