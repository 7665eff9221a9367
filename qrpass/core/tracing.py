"""OpenTelemetry traces, configured the standard way (the OTEL_* variables), and off unless an
OTLP endpoint is set: then no provider, no interceptor and no middleware is installed, and the
API's no-op tracer costs nothing measurable.

On: spans go over OTLP (HTTP/protobuf, or gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc) in
batches; `service.name` is OTEL_SERVICE_NAME or the process's own name; the sampler is
OTEL_TRACES_SAMPLER (and _ARG), by default parent-based with 10 % of root traces.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    TraceIdRatioBased,
    _get_from_env_or_default,
)
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_ROOT_RATIO = 0.1
_provider: TracerProvider | None = None


class EdgeIdGenerator(RandomIdGenerator):
    """Random ids, except that the gateway's hot path may draw a trace id first, sample it, and
    hand it to the span the routed request starts next (`preset`): so a near-cache hit that is
    not sampled is answered without any span object, and one that is gets the same decision."""

    _next: contextvars.ContextVar[int | None] = contextvars.ContextVar(
        "next_trace_id", default=None
    )

    def preset(self, trace_id: int) -> None:
        self._next.set(trace_id)

    def generate_trace_id(self) -> int:
        preset = self._next.get()
        if preset is None:
            return super().generate_trace_id()
        self._next.set(None)
        return preset


def _sampler(environ: Mapping[str, str]) -> Sampler:
    if environ.get("OTEL_TRACES_SAMPLER"):
        return _get_from_env_or_default()
    return ParentBased(TraceIdRatioBased(DEFAULT_ROOT_RATIO))


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process exports traces: an OTLP endpoint is set and the SDK not disabled."""
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(environ.get(name) for name in ENDPOINTS)


def start(service: str, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Installs the global tracer provider when traces are wanted; returns it, else None."""
    global _provider
    if not wanted(environ):
        return None
    if environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over this default.
    resource = Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(
        resource=resource, sampler=_sampler(environ), id_generator=EdgeIdGenerator()
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info(
        "exporting traces over OTLP", extra={"service_name": resource.attributes[SERVICE_NAME]}
    )
    return provider


def provider() -> TracerProvider | None:
    """The provider `start` installed, or None when traces are off."""
    return _provider


def stop() -> None:
    """Sends the spans still batched; a stopping process calls it last."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> Sequence[grpc.aio.ServerInterceptor]:
    """The server span of every call, outermost; none when traces are off."""
    if _provider is None:
        return ()
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return (aio_server_interceptor(tracer_provider=_provider),)  # type: ignore[no-untyped-call]


def client_interceptors() -> Sequence[grpc.aio.ClientInterceptor]:
    """A client span per call, carrying the trace to the service; none when traces are off."""
    if _provider is None:
        return ()
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return tuple(aio_client_interceptors(tracer_provider=_provider))  # type: ignore[no-untyped-call]


def instrument_engine(engine: Engine) -> None:
    """A client span per SQL statement, named by its first word and carrying the statement with
    its placeholders, never the values. By SQLAlchemy's cursor events rather than
    opentelemetry-instrumentation-sqlalchemy, which refuses SQLAlchemy 2.1 and needs greenlet
    (docs/decisions.md)."""
    if _provider is None:
        return
    tracer = _provider.get_tracer("qrpass.sql")
    system = {"postgresql": "postgresql", "sqlite": "sqlite"}.get(engine.dialect.name, "other_sql")
    fixed = {"db.system": system, "db.name": engine.url.database or ""}

    @event.listens_for(engine, "before_cursor_execute")
    def _start(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        name = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(name, kind=trace.SpanKind.CLIENT,
                                 attributes={**fixed, "db.statement": statement})  # fmt: skip
        conn.info.setdefault("qrpass_spans", []).append(span)

    @event.listens_for(engine, "after_cursor_execute")
    def _end(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        spans = conn.info.get("qrpass_spans")
        if spans:
            spans.pop().end()

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        spans = context.connection.info.get("qrpass_spans") if context.connection else None
        if spans:
            span = spans.pop()
            span.set_status(
                trace.Status(trace.StatusCode.ERROR, type(context.original_exception).__name__)
            )
            span.end()


def instrument_redis() -> None:
    """A span per Redis command (`GET ?`: the arguments are never recorded)."""
    if _provider is not None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        instrumentor = RedisInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=_provider)
