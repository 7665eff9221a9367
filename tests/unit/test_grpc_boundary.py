"""The gRPC boundaries on a real in-process server: the server interceptor that turns a
service's exceptions into statuses (unary and streaming), and ServiceClient._call (deadline,
request id, the CANCELLED-near-the-deadline rule, on_error, client metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from qrpass.core.clients import CallPolicy, TokenClient
from qrpass.core.grpc_errors import SERVICE_MESSAGE_KEY, ServerInterceptor
from qrpass.core.grpc_metrics import ClientMetrics
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from qrpass.vocabulary import STUDENT

DEADLINE = 0.4


class Refused(Exception):
    """A domain error whose own message goes to the caller."""


class StoreDown(Exception):
    """A domain error with a fixed message: its own text (SQL, say) never leaves."""


CODES = {Refused: ("INVALID_ARGUMENT", None), StoreDown: ("UNAVAILABLE", "retry shortly")}


class Servicer(token_grpc.TokenServiceServicer):
    """What each subject id makes IssueToken do."""

    async def IssueToken(self, request: Any, context: Any) -> token_pb.IssueTokenResponse:
        match request.subject_id:
            case "refused":
                raise Refused("the id must match [A-Za-z0-9]")
            case "store-down":
                raise StoreDown("SELECT secret FROM subjects")
            case "bug":
                raise RuntimeError("a traceback with SELECT secret")
            case "slow":
                await asyncio.sleep(DEADLINE * 3)
            case "cancel-late":  # the server gives up at the deadline and says CANCELLED
                await asyncio.sleep(DEADLINE * 0.97)
                await context.abort(grpc.StatusCode.CANCELLED, "cancelled")
            case "cancel-early":
                await context.abort(grpc.StatusCode.CANCELLED, "cancelled")
        request_id = dict(context.invocation_metadata()).get("x-request-id", "")
        return token_pb.IssueTokenResponse(token=request_id)

    async def WatchSubjectChanges(self, request: Any, context: Any) -> AsyncIterator[Any]:
        yield token_pb.WatchSubjectChangesResponse(sequence=1)
        if request.after_sequence == 1:
            raise StoreDown("SELECT secret FROM subject_changes")
        raise RuntimeError("a traceback with SELECT secret")


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[tuple[grpc.aio.Channel, CollectorRegistry]]:
    registry = CollectorRegistry()
    server = grpc.aio.server(interceptors=(ServerInterceptor(registry, CODES),))
    token_grpc.add_TokenServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, registry
    finally:
        await channel.close()
        await server.stop(0)


class Mapped(Exception):
    def __init__(self, error: grpc.aio.AioRpcError, backend: str, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self.error, self.backend, self.code = error, backend, code


def _issue(subject: str, *, on_error: bool = True, request_id: str = "") -> Any:
    """IssueToken for `subject` through a TokenClient; the answer, or the exception raised,
    with the client's and the server's metric samples."""

    async def call() -> Any:
        async with _server() as (channel, server_registry):
            registry = CollectorRegistry()
            policy = CallPolicy(DEADLINE, ClientMetrics(registry), Mapped if on_error else None)
            client = TokenClient(channel, policy)
            start = time.perf_counter()
            try:
                outcome: Any = await client.issue(STUDENT, subject, request_id=request_id)
            except Exception as error:
                outcome = error
            await asyncio.sleep(0.05)  # the server's finally has run
            return outcome, time.perf_counter() - start, registry, server_registry

    return asyncio.run(call())


def _handled(registry: CollectorRegistry, side: str, code: str, grpc_type: str = "unary") -> float:
    method = "WatchSubjectChanges" if grpc_type == "server_stream" else "IssueToken"
    labels = {"grpc_type": grpc_type, "grpc_service": "qrpass.token.v1.TokenService",
              "grpc_method": method, "grpc_code": code}  # fmt: skip
    return registry.get_sample_value(f"grpc_{side}_handled_total", labels) or 0.0


def test_the_request_id_reaches_the_server_and_both_sides_count_the_call() -> None:
    reply, _, client, server = _issue("S1", request_id="req-42")
    assert reply.token == "req-42"
    assert _handled(client, "client", "OK") == 1 and _handled(server, "server", "OK") == 1


def test_a_domain_error_gives_its_status_and_its_own_message() -> None:
    error, _, client, server = _issue("refused")
    assert isinstance(error, Mapped) and error.backend == "token_service"
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.error.details() == "the id must match [A-Za-z0-9]"
    assert (SERVICE_MESSAGE_KEY, "1") in tuple(error.error.trailing_metadata() or ())
    assert _handled(server, "server", "INVALID_ARGUMENT") == 1
    assert _handled(client, "client", "INVALID_ARGUMENT") == 1


def test_a_fixed_message_replaces_the_errors_text_and_a_bug_is_internal() -> None:
    down, *_ = _issue("store-down")
    assert down.code == grpc.StatusCode.UNAVAILABLE and down.error.details() == "retry shortly"
    bug, _, _, server = _issue("bug")
    assert bug.code == grpc.StatusCode.INTERNAL and bug.error.details() == "internal error"
    assert _handled(server, "server", "INTERNAL") == 1


def test_the_deadline_is_the_policys_and_its_expiry_is_deadline_exceeded() -> None:
    error, took, client, _ = _issue("slow")
    assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert DEADLINE * 0.9 <= took < DEADLINE * 3
    assert _handled(client, "client", "DEADLINE_EXCEEDED") == 1


def test_cancelled_at_the_deadline_is_the_deadline_and_early_stays_cancelled() -> None:
    late, _, client, _ = _issue("cancel-late")
    assert late.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _handled(client, "client", "DEADLINE_EXCEEDED") == 1
    early, *_ = _issue("cancel-early")
    assert early.code == grpc.StatusCode.CANCELLED


def test_without_on_error_the_rpc_error_itself_is_raised() -> None:
    error, *_ = _issue("refused", on_error=False)
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(("after", "code", "details"), [
    (1, grpc.StatusCode.UNAVAILABLE, "retry shortly"),
    (2, grpc.StatusCode.INTERNAL, "internal error"),
])  # fmt: skip
def test_a_stream_that_fails_midway_ends_with_the_mapped_status(after, code, details) -> None:
    async def watch() -> tuple[list[int], grpc.aio.AioRpcError, CollectorRegistry]:
        async with _server() as (channel, registry):
            stub = token_grpc.TokenServiceStub(channel)
            seen = []
            request = token_pb.WatchSubjectChangesRequest(after_sequence=after)
            try:
                async for message in stub.WatchSubjectChanges(request, timeout=5):
                    seen.append(message.sequence)
            except grpc.aio.AioRpcError as error:
                await asyncio.sleep(0.05)
                return seen, error, registry
            raise AssertionError("the stream ended without an error")

    seen, error, registry = asyncio.run(watch())
    assert seen == [1]  # what came before the failure was delivered
    assert error.code() == code and error.details() == details
    assert "SELECT" not in (error.debug_error_string() or "")
    assert _handled(registry, "server", code.name, "server_stream") == 1
