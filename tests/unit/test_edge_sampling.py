"""The hot path's tracing decision, taken before any span exists (gateway/traces.py)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

from gateway.traces import EdgeSampler
from qrpass.core.tracing import EdgeIdGenerator

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"


def _edge(sampler) -> tuple[EdgeSampler, TracerProvider]:
    provider = TracerProvider(sampler=sampler, id_generator=EdgeIdGenerator())
    return EdgeSampler(provider), provider


def test_a_parent_based_sampler_follows_the_callers_flag() -> None:
    edge, _ = _edge(ParentBased(ALWAYS_OFF))
    assert edge.traced(PARENT.format(flags="01"))
    assert not edge.traced(PARENT.format(flags="00"))
    assert not edge.traced("garbage")  # read as no parent: the root sampler (off) decides


def test_a_root_request_gets_the_samplers_decision_and_its_span_the_same_trace_id() -> None:
    assert not _edge(ParentBased(ALWAYS_OFF))[0].traced(None)
    edge, provider = _edge(ParentBased(ALWAYS_ON))
    assert edge.traced(None)
    span = provider.get_tracer("t").start_span("GET /v1/{kind}/{id}/qr")
    assert span.get_span_context().trace_flags.sampled
    # The preset id is used once: the next span draws its own.
    other = provider.get_tracer("t").start_span("other")
    assert other.get_span_context().trace_id != span.get_span_context().trace_id


def test_about_a_tenth_of_roots_are_traced_by_the_default_ratio() -> None:
    edge, provider = _edge(ParentBased(TraceIdRatioBased(0.1)))
    traced = 0
    for _ in range(2000):
        if edge.traced(None):
            traced += 1
            span = provider.get_tracer("t").start_span("s")  # consumes the preset id
            assert span.get_span_context().trace_flags.sampled  # the same decision again
    assert 120 <= traced <= 290  # 200 expected; outside this, less than once in 10^8
