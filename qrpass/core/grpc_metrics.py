"""The standard grpc_server_* and grpc_client_* metrics, and the one boundary that maps errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from qrpass.core.authz import Continuation
from qrpass.core.prometheus import Declare

log = logging.getLogger(__name__)

# Exception class -> (status code name, fixed message or None to use the error's own).
ErrorCodes = Mapping[type[Exception], tuple[str, str | None]]


SERVICE_MESSAGE_KEY = "qrpass-service-message"


def _rpc_metrics(side: str, registry: CollectorRegistry) -> tuple[Counter, Counter, Histogram]:
    """The standard started/handled/handling_seconds triplet for side "server" or "client"."""
    labels = ("grpc_type", "grpc_service", "grpc_method")
    declare = Declare(registry)
    started = declare.counter(f"grpc_{side}_started_total", f"RPCs started on the {side}.", labels)
    handled = declare.counter(
        f"grpc_{side}_handled_total",
        f"RPCs completed on the {side}, by status code.",
        (*labels, "grpc_code"),
    )
    seconds = declare.histogram(
        f"grpc_{side}_handling_seconds", f"Time to complete an RPC, seen from the {side}.", labels
    )
    return started, handled, seconds


# A cancel that lands this close to the deadline is the client's deadline firing. The client's
# timer starts before ours, and grpc's deadline is read against Python's wall clock: one CI run
# saw every late call of a process cancelled with time still showing on the server.
DEADLINE_SLACK_SECONDS = 0.1


def deadline_passed(remaining: float | None, slack: float = 0.0) -> bool:
    """Whether a call with `remaining` seconds left (None: no deadline) is out of time."""
    return remaining is not None and remaining <= slack


def _split(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every unary call, and turns exceptions into status codes.

    A domain error found in `error_codes` (by class, most specific first) becomes that
    status with the error's message; any other exception becomes INTERNAL with a generic
    message and a logged traceback, so no traceback ever reaches the wire.
    """

    def __init__(self, registry: CollectorRegistry, error_codes: ErrorCodes) -> None:
        self._started, self._handled, self._seconds = _rpc_metrics("server", registry)
        self._error_codes = error_codes
        # intercept_service runs for every call; the wrapped handler per method is built once.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def _status_for(self, error: Exception) -> tuple[grpc.StatusCode, str] | None:
        for cls in type(error).__mro__:
            entry = self._error_codes.get(cls)
            if entry is not None:
                name, message = entry
                if message is not None:
                    log.warning("%s: %s", name, type(error).__name__)
                return grpc.StatusCode[name], message or str(error)
        return None

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        wrapped = self._wrapped.get(handler_call_details.method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, method = _split(handler_call_details.method)
        # An asyncio server: the handler is a coroutine function of an aio context.
        behavior = cast(Callable[[Any, Any], Awaitable[Any]], handler.unary_unary)
        labels = ("unary", service, method)
        started = self._started.labels(*labels)
        timer = self._seconds.labels(*labels)
        handled = self._handled

        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started.inc()
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                response = await behavior(request, context)
                # Finished too late: the caller was already told DEADLINE_EXCEEDED.
                if deadline_passed(context.time_remaining()):
                    code = grpc.StatusCode.DEADLINE_EXCEEDED
                return response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:  # the client went away, or its deadline passed
                expired = deadline_passed(context.time_remaining(), DEADLINE_SLACK_SECONDS)
                code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                mapped = self._status_for(error)
                if mapped is None:
                    log.exception("unhandled error in %s", handler_call_details.method)
                    mapped = (grpc.StatusCode.INTERNAL, "internal error")
                code = mapped[0]
                # Tells clients the message is the service's own, safe to show as it is.
                context.set_trailing_metadata(((SERVICE_MESSAGE_KEY, "1"),))
                await context.abort(*mapped)
            finally:
                handled.labels(*labels, code.name).inc()
                timer.observe(time.perf_counter() - start)

        wrapped = grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[handler_call_details.method] = wrapped
        return wrapped


class ClientMetrics:
    """The grpc_client_* metrics. Callers record each call themselves: grpc.aio's client
    interceptors cost more CPU per call than everything else the gateway does for it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._started, self._handled, self._seconds = _rpc_metrics("client", registry)

    def started(self, service: str, method: str) -> None:
        self._started.labels("unary", service, method).inc()

    def handled(self, service: str, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self._handled.labels("unary", service, method, code.name).inc()
        self._seconds.labels("unary", service, method).observe(seconds)
