"""The standard grpc_server_* and grpc_client_* metrics, and the one boundary that maps errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

log = logging.getLogger(__name__)

# The *_created series double every counter's cardinality and no dashboard of ours reads them.
disable_created_metrics()

# From 100 µs (a cache hit) to 10 s (a large import).
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
)  # fmt: skip

# Exception class -> (status code name, fixed message or None to use the error's own).
ErrorCodes = Mapping[type[Exception], tuple[str, str | None]]


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
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self._started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", labels, registry=registry
        )
        self._handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self._seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time to handle an RPC on the server.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._error_codes = error_codes

    def _status_for(self, error: Exception) -> tuple[grpc.StatusCode, str] | None:
        for cls in type(error).__mro__:
            entry = self._error_codes.get(cls)  # type: ignore[call-overload]
            if entry is not None:
                name, message = entry
                if message is not None:
                    log.warning("%s: %s", name, type(error).__name__)
                return grpc.StatusCode[name], message or str(error)
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, method = _split(handler_call_details.method)
        behavior = handler.unary_unary
        labels = ("unary", service, method)
        started, handled, seconds = self._started, self._handled, self._seconds

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started.labels(*labels).inc()
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as error:
                mapped = self._status_for(error)
                if mapped is None:
                    log.exception("unhandled error in %s", handler_call_details.method)
                    mapped = (grpc.StatusCode.INTERNAL, "internal error")
                code = mapped[0]
                await context.abort(*mapped)
            finally:
                handled.labels(*labels, code.name).inc()
                seconds.labels(*labels).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Counts and times every unary call a client makes (grpc_client_*)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self._started = Counter(
            "grpc_client_started_total", "RPCs started by the client.", labels, registry=registry
        )
        self._handled = Counter(
            "grpc_client_handled_total",
            "RPCs completed by the client, by status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self._seconds = Histogram(
            "grpc_client_handling_seconds",
            "Time from the client's call to its completion.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[grpc.aio.UnaryUnaryCall]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        labels = ("unary", *_split(method))
        self._started.labels(*labels).inc()
        start = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN
        try:
            call = await continuation(client_call_details, request)
            await call
            code = await call.code()
            return call
        except grpc.aio.AioRpcError as error:
            code = error.code()
            raise
        finally:
            self._handled.labels(*labels, code.name).inc()
            self._seconds.labels(*labels).observe(time.perf_counter() - start)
