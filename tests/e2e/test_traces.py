"""One trace across the three services, exported over OTLP/HTTP to a real receiver: a request
with a W3C `traceparent` gives the gateway's server span (named by its route template) as the
caller's child, the gateway's gRPC client spans, the services' server spans and their Redis and
PostgreSQL spans, each under the right parent; without a `traceparent` the gateway starts a
trace for about 10 % of requests (the default sampler); no span holds a token, key or email."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.token.v1 import token_service_pb2_grpc as token_grpc
from tests.conftest import SECRET_PATTERN, students_csv
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.services import (
    ADMIN_KEY,
    CLIENT_KEY,
    SCANNER_KEY,
    ServiceProcess,
    base_env,
    run_cli,
    stack_env,
)

SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind


@dataclass
class Traced:
    url: str
    receiver: OtlpReceiver
    gateway: ServiceProcess


@pytest.fixture(scope="module")
def traced(tmp_path_factory, postgres, redis_server) -> Iterator[Traced]:
    workdir = tmp_path_factory.mktemp("traced")
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/11"  # a database of its own
    with OtlpReceiver() as receiver:
        env = stack_env(workdir, postgres.create_database(), redis_url,
                        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                        OTEL_BSP_SCHEDULE_DELAY="200")  # fmt: skip
        assert run_cli(["db", "upgrade"], env, workdir).returncode == 0
        port = {
            name: int(env[f"{name}_LISTEN_ADDR"].rpartition(":")[2]) for name in ("TOKEN", "IMAGE")
        }
        processes = [ServiceProcess("token_service", env, workdir, port["TOKEN"]).start(),
                     ServiceProcess("image_service", env, workdir, port["IMAGE"]).start()]  # fmt: skip
        gateway = ServiceProcess("gateway", env, workdir).start()
        processes.append(gateway)
        try:
            reply = httpx.post(f"{gateway.url}/v1/admin/import/students", content=students_csv(5),
                               headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                        "Content-Type": "text/csv"})  # fmt: skip
            assert reply.status_code == 200, reply.text
            yield Traced(gateway.url, receiver, gateway)
        finally:
            for process in reversed(processes):
                process.stop()


def _send(traced: Traced, method: str, path: str, key: str, **kwargs) -> tuple[str, str]:
    """One request in a new sampled trace; (its trace id, the caller's span id)."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"Authorization": f"Bearer {key}", "traceparent": f"00-{trace_id}-{parent}-01",
               "tracestate": "vendor=1", "baggage": "tenant=campus"}  # fmt: skip
    reply = httpx.request(method, f"{traced.url}{path}", headers=headers, timeout=10, **kwargs)
    assert reply.status_code == 200, reply.text
    return trace_id, parent


def _one(spans: list[ReceivedSpan], service: str, kind: int, name: str) -> ReceivedSpan:
    found = [s for s in spans if (s.service, s.kind, s.name) == (service, kind, name)]
    assert len(found) == 1, (service, kind, name, [(s.service, s.kind, s.name) for s in spans])
    return found[0]


def _chain(spans: list[ReceivedSpan], service: str, method: str) -> tuple[ReceivedSpan, ...]:
    """The gateway's server span, its client span for `method` and the service's server span
    for it, each the child of the one before; checked and returned."""
    gateway = next(s for s in spans if s.service == "gateway" and s.kind == SERVER)
    client = _one(spans, "gateway", CLIENT, method)
    server = _one(spans, service, SERVER, method)
    assert client.parent_span_id == gateway.span_id
    assert server.parent_span_id == client.span_id
    assert server.attributes.get("rpc.grpc.status_code") == 0
    return gateway, client, server


def _below(spans: list[ReceivedSpan], ancestor: ReceivedSpan) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}

    def descends(span: ReceivedSpan) -> bool:
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            if span is ancestor:
                return True
        return False

    return [s for s in spans if descends(s)]


def _no_secrets(spans: list[ReceivedSpan]) -> None:
    leaks = [(s.name, v) for s in spans for v in s.values if SECRET_PATTERN.search(v)]
    assert not leaks, leaks


def test_a_pass_open_traces_the_gateway_the_image_service_and_redis(traced) -> None:
    trace_id, parent = _send(traced, "GET", "/v1/students/S00001/qr", CLIENT_KEY)  # a miss
    spans = traced.receiver.trace(trace_id, at_least=5)
    gateway, _, image = _chain(
        spans, "image_service", "/qrpass.image.v1.ImageService/RenderQrCodes"
    )
    assert gateway.name == "GET /v1/{kind}/{id}/qr" and gateway.parent_span_id == parent
    assert gateway.attributes.get("http.route") == "/v1/{kind}/{id}/qr"
    assert 200 in (
        gateway.attributes.get(k) for k in ("http.status_code", "http.response.status_code")
    )
    redis_calls = [s for s in _below(spans, image) if s.attributes.get("db.system") == "redis"]
    assert redis_calls and all(s.kind == CLIENT for s in redis_calls)
    assert all(" ?" in str(s.attributes.get("db.statement", " ?")) for s in redis_calls)
    _no_secrets(spans)


def test_a_verify_traces_the_gateway_and_the_token_service(traced) -> None:
    token = httpx.get(f"{traced.url}/v1/students/S00002/qr",
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}).json()["qr_token"]  # fmt: skip
    trace_id, parent = _send(traced, "POST", "/v1/verify", SCANNER_KEY,
                             content=json.dumps({"token": token}))  # fmt: skip
    spans = traced.receiver.trace(trace_id, at_least=3)
    gateway, *_ = _chain(spans, "token_service", "/qrpass.token.v1.TokenService/VerifyToken")
    assert gateway.name == "POST /v1/verify" and gateway.parent_span_id == parent
    _no_secrets(spans)


def test_a_check_in_traces_down_to_its_postgresql_statements(traced) -> None:
    token = httpx.get(f"{traced.url}/v1/students/S00003/qr",
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}).json()["qr_token"]  # fmt: skip
    body = json.dumps({"token": token, "gate": "North", "scan_id": secrets.token_hex(8)})
    trace_id, _ = _send(traced, "POST", "/v1/checkins", SCANNER_KEY, content=body)
    spans = traced.receiver.trace(trace_id, at_least=5)
    _, _, token_server = _chain(spans, "token_service", "/qrpass.token.v1.TokenService/CheckIn")
    statements = [s for s in _below(spans, token_server)
                  if s.attributes.get("db.system") == "postgresql"]  # fmt: skip
    assert statements, [(s.service, s.name) for s in spans]
    _no_secrets(spans)


def test_without_a_traceparent_the_gateway_samples_about_a_tenth_of_its_requests(traced) -> None:
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(base_url=traced.url, headers=auth, timeout=10) as http:
        http.get("/v1/students/S00004/qr")  # now in the near-cache: the rest are hits
        before = {s.trace_id for s in traced.receiver.spans}
        for _ in range(300):
            assert http.get("/v1/students/S00004/qr").status_code == 200
    traced.receiver.trace("flush", at_least=1, timeout=1.5)  # the last batch arrives
    roots = {s.trace_id for s in traced.receiver.spans
             if s.service == "gateway" and s.kind == SERVER and not s.parent_span_id
             and s.trace_id not in before}  # fmt: skip
    # 10 % of 300 is 30; below 5 or above 75 happens by chance less than once in 10^6 runs.
    assert 5 <= len(roots) <= 75, len(roots)
    # The access log names each sampled request's trace.
    logged = {json.loads(line).get("trace_id") for line in traced.gateway.logs().splitlines()
              if '"trace_id"' in line and '"route"' in line}  # fmt: skip
    assert roots <= logged


def test_the_latency_histogram_carries_sampled_traces_as_exemplars(traced) -> None:
    trace_id, _ = _send(traced, "GET", "/v1/students/S00005/qr", CLIENT_KEY)
    reply = httpx.get(f"{traced.url}/metrics",
                      headers={"Accept": "application/openmetrics-text; version=1.0.0"})  # fmt: skip
    buckets = [line for line in reply.text.splitlines()
               if line.startswith("http_request_duration_seconds_bucket")
               and 'route="/v1/{kind}/{id}/qr"' in line]  # fmt: skip
    assert any(f'# {{trace_id="{trace_id}"}}' in line for line in buckets), buckets[:3]


def test_a_stopping_gateway_sends_the_spans_it_still_holds(traced, tmp_path) -> None:
    # A minute between batches: only the flush at SIGTERM can deliver this span in time.
    env = traced.gateway.env | {"OTEL_BSP_SCHEDULE_DELAY": "60000"}
    gateway = ServiceProcess("gateway", env, tmp_path).start()
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    reply = httpx.get(
        f"{gateway.url}/healthz", headers={"traceparent": f"00-{trace_id}-{parent}-01"}
    )
    assert reply.status_code == 200
    gateway.stop()
    (span,) = traced.receiver.trace(trace_id, at_least=1, timeout=5)
    assert span.name == "GET /healthz" and span.parent_span_id == parent


def test_a_traced_near_cache_hit_is_answered_on_the_hot_path_with_its_span(traced) -> None:
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    first = httpx.get(f"{traced.url}/v1/students/S00001/qr", headers=auth)  # held since the miss
    trace_id, parent = _send(traced, "GET", "/v1/students/S00001/qr", CLIENT_KEY)
    (span,) = traced.receiver.trace(trace_id, at_least=1)
    assert (span.service, span.kind, span.name) == ("gateway", SERVER, "GET /v1/{kind}/{id}/qr")
    assert span.parent_span_id == parent and span.attributes["http.response.status_code"] == 200
    assert first.json()["cached"] is True


def test_otlp_over_grpc_when_the_protocol_says_so(traced, tmp_path) -> None:
    env = base_env(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=traced.receiver.grpc_endpoint,
                   OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_SERVICE_NAME="gate-north-tokens",
                   OTEL_BSP_SCHEDULE_DELAY="200")  # fmt: skip
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    service = ServiceProcess("token_service", env, tmp_path).start()
    try:
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        with grpc.insecure_channel(service.address) as channel:
            stub = token_grpc.TokenServiceStub(channel)
            stub.GetJwks(token_pb.GetJwksRequest(), timeout=5,
                         metadata=(("traceparent", f"00-{trace_id}-{parent}-01"),))  # fmt: skip
        (span,) = traced.receiver.trace(trace_id, at_least=1)
    finally:
        service.stop()
    assert (span.service, span.kind) == ("gate-north-tokens", SERVER)
    assert span.name == "/qrpass.token.v1.TokenService/GetJwks" and span.parent_span_id == parent
