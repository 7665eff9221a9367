"""The one boundary where a service's exceptions become gRPC statuses, for unary and
server-streaming calls alike, with the standard grpc_server_* metrics taken on the way.

A domain error found in the service's `ErrorCodes` (by class, most specific first) becomes
that status with the error's message (or the table's fixed one); any other exception becomes
INTERNAL with a generic message and a logged traceback, so no traceback, SQL or driver text
ever reaches the wire. A stream that fails after some messages ends with the mapped status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn, cast

import grpc
from prometheus_client import CollectorRegistry

from qrpass.core.authz import Continuation
from qrpass.core.grpc_metrics import DEADLINE_SLACK_SECONDS, ServerMetrics, deadline_passed

log = logging.getLogger(__name__)

# Exception class -> (status code name, fixed message or None to use the error's own).
ErrorCodes = Mapping[type[Exception], tuple[str, str | None]]
# Trailing metadata that tells clients the message is the service's own, safe to show as it is.
SERVICE_MESSAGE_KEY = "qrpass-service-message"

_Context = grpc.aio.ServicerContext[Any, Any]


def _split(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class ErrorBoundary:
    """Maps an exception to its status and ends the call with it."""

    def __init__(self, error_codes: ErrorCodes) -> None:
        self._error_codes = error_codes

    def status_for(self, error: Exception, method: str) -> tuple[grpc.StatusCode, str]:
        for cls in type(error).__mro__:
            entry = self._error_codes.get(cls)
            if entry is not None:
                name, message = entry
                if message is not None:  # a fixed message: the class is all the log needs
                    log.warning("%s: %s", name, type(error).__name__)
                return grpc.StatusCode[name], message or str(error)
        log.exception("unhandled error in %s", method, exc_info=error)
        return grpc.StatusCode.INTERNAL, "internal error"

    async def abort(self, context: _Context, code: grpc.StatusCode, message: str) -> NoReturn:
        context.set_trailing_metadata(((SERVICE_MESSAGE_KEY, "1"),))
        await context.abort(code, message)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each unary and server-streaming handler once: counts and times the call and turns
    what it raises into a status through the ErrorBoundary."""

    def __init__(self, registry: CollectorRegistry, error_codes: ErrorCodes) -> None:
        self._metrics = ServerMetrics(registry)
        self._boundary = ErrorBoundary(error_codes)
        # intercept_service runs for every call; the wrapped handler per method is built once.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        wrapped = self._wrapped.get(handler_call_details.method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            wrapped = self._unary(handler_call_details.method, handler)
        elif handler.unary_stream is not None:
            wrapped = self._server_stream(handler_call_details.method, handler)
        else:  # no client-streaming RPC exists; one added would pass through unmapped
            return handler
        self._wrapped[handler_call_details.method] = wrapped
        return wrapped

    def _code_on(self, context: _Context, error: BaseException) -> grpc.StatusCode:
        """The status a call ends with when `error` escapes what the boundary maps."""
        if isinstance(error, grpc.aio.AbortError):
            return context.code() or grpc.StatusCode.UNKNOWN
        # The client went away, or its deadline passed.
        expired = deadline_passed(context.time_remaining(), DEADLINE_SLACK_SECONDS)
        return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED

    def _unary(
        self, full_method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        # An asyncio server: the handler is a coroutine function of an aio context.
        behavior = cast(Callable[[Any, _Context], Awaitable[Any]], handler.unary_unary)
        call = self._metrics.call("unary", *_split(full_method))
        boundary = self._boundary

        async def observed(request: Any, context: _Context) -> Any:
            call.started()
            start, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                response = await behavior(request, context)
                # Finished too late: the caller was already told DEADLINE_EXCEEDED.
                if deadline_passed(context.time_remaining()):
                    code = grpc.StatusCode.DEADLINE_EXCEEDED
                return response
            except (grpc.aio.AbortError, asyncio.CancelledError) as error:
                code = self._code_on(context, error)
                raise
            except Exception as error:
                code, message = boundary.status_for(error, full_method)
                await boundary.abort(context, code, message)
            finally:
                call.handled(code, time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _server_stream(
        self, full_method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        behavior = cast(Callable[[Any, _Context], AsyncGenerator[Any]], handler.unary_stream)
        call = self._metrics.call("server_stream", *_split(full_method))
        boundary = self._boundary

        async def observed(request: Any, context: _Context) -> AsyncIterator[Any]:
            call.started()
            start, code = time.perf_counter(), grpc.StatusCode.OK
            try:
                # aclosing: a stream that ends early closes the handler's generator now, so its
                # own cleanup (unsubscribing) runs at once rather than when it is collected.
                async with contextlib.aclosing(behavior(request, context)) as messages:
                    async for message in messages:
                        yield message
            except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit) as error:
                code = self._code_on(context, error)
                raise
            except Exception as error:
                code, message = boundary.status_for(error, full_method)
                await boundary.abort(context, code, message)
            finally:
                call.handled(code, time.perf_counter() - start)

        return grpc.unary_stream_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
