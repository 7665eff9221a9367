"""The gateway's part of a trace: the server span of a routed request (named by its route
template, in the caller's trace when a `traceparent` came with it), and the hot path's: its
decision, taken before any span exists, whether a near-cache hit is traced at all, and the
span of one that is."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.applications import Starlette
from starlette.routing import Match
from starlette.types import Scope

from qrpass.core.logs import trace_id_hex
from qrpass.core.tracing import EdgeIdGenerator

_SAMPLED = (Decision.RECORD_AND_SAMPLE,)
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-([0-9a-f]{2})")


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """`GET /v1/{kind}/{id}/qr`: the template, never the path, which names a subject."""
    for route in scope["app"].routes:
        match, _ = route.matches(scope)
        if match != Match.NONE:
            template = route.path.replace("{kind:kind}", "{kind}")
            return f"{scope['method']} {template}", {"http.route": template}
    return scope.get("method", "HTTP"), {}


def _keep_trace_id(span: Span, scope: Scope) -> None:
    """The access log names the trace of a sampled request (an unsampled one is nowhere)."""
    context = span.get_span_context()
    if context.trace_flags.sampled:
        scope.setdefault("state", {})["trace_id"] = trace_id_hex(context)


def instrument(app: Starlette, provider: TracerProvider) -> None:
    app.add_middleware(
        OpenTelemetryMiddleware,
        default_span_details=_span_details,
        server_request_hook=_keep_trace_id,
        exclude_spans=["receive", "send"],
        tracer_provider=provider,
    )


class EdgeSampler:
    """Whether a request the hot path could answer is traced, decided before any span exists:
    a `traceparent` whose parent was sampled is (parent-based samplers follow their parent);
    without one, a trace id is drawn and the provider's sampler asked, and a sampled id is
    handed to the span started next (`server_span`), so it gets the same decision."""

    def __init__(self, provider: TracerProvider) -> None:
        self._tracer = provider.get_tracer("qrpass.gateway")
        self._propagator = TraceContextTextMapPropagator()
        self._sampler = provider.sampler
        self._parent_based = isinstance(self._sampler, ParentBased)
        ids = provider.id_generator
        self._ids = ids if isinstance(ids, EdgeIdGenerator) else None
        self._draw = RandomIdGenerator()

    def traced(self, traceparent: str | None) -> bool:
        parent = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
        if parent is not None:
            return not self._parent_based or int(parent[1], 16) & 1 == 1
        trace_id = self._draw.generate_trace_id()
        decision = self._sampler.should_sample(None, trace_id, "GET").decision
        if decision not in _SAMPLED:
            return False
        if self._ids is not None:
            self._ids.preset(trace_id)
        return True

    def server_span(
        self, template: str, traceparent: str | None, tracestate: str | None
    ) -> AbstractContextManager[Span]:
        """The server span of a traced hit, answered on the hot path like any other: named and
        attributed as the middleware names a routed request's, in the caller's trace."""
        carrier = {"traceparent": traceparent or "", "tracestate": tracestate or ""}
        parent = self._propagator.extract(carrier) if traceparent else None
        attributes = {"http.route": template, "http.request.method": "GET"}
        return self._tracer.start_as_current_span(
            f"GET {template}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
