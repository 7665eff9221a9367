"""When traces are on, and with which sampler: OpenTelemetry's own variables."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from qrpass.core import tracing


def test_traces_are_on_only_with_an_endpoint_and_the_sdk_not_disabled() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    assert not tracing.wanted(disabled)
    assert tracing.start("gateway", {}) is None  # nothing installed


def test_the_default_sampler_is_parent_based_with_a_tenth_of_roots() -> None:
    sampler = tracing._sampler({})
    assert isinstance(sampler, ParentBased)
    assert "TraceIdRatioBased{0.1}" in sampler.get_description()


def test_the_sampler_variables_are_honoured(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    sampler = tracing._sampler({"OTEL_TRACES_SAMPLER": "traceidratio"})
    assert isinstance(sampler, TraceIdRatioBased) and sampler.rate == 0.25
