"""The access log's lines: the shape of every other log line, batched, never a raw path."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

from gateway.access_log import FLUSH_SECONDS, AccessLog
from qrpass.core.logs import JsonFormatter


def _scope(method: str = "GET", **state: str) -> dict:
    return {"type": "http", "method": method, "path": "/v1/students/S1/qr", "state": state}


def test_a_line_is_json_in_the_shape_of_every_other_line() -> None:
    stream = io.StringIO()
    log = AccessLog("gateway", stream)

    async def serve() -> None:
        log.write(_scope(request_id="r-1", key_id="sha256:0123abcd"), "/v1/{kind}/{id}/qr",
                  200, 0.000_123_4, 2254)  # fmt: skip
        log.write(_scope('GE"T'), "unmatched", 404, 0.002, 90)
        assert stream.getvalue() == ""  # batched: nothing written yet
        await asyncio.sleep(FLUSH_SECONDS * 3)

    asyncio.run(serve())
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == first | {
        "level": "INFO", "service": "gateway", "logger": "qrpass.access", "msg": "request",
        "method": "GET", "route": "/v1/{kind}/{id}/qr", "status": 200, "duration_ms": 0.123,
        "bytes": 2254, "request_id": "r-1", "key_id": "sha256:0123abcd",
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert (second["method"], second["request_id"], second["key_id"]) == ('GE"T', None, None)
    assert "S1" not in stream.getvalue()  # the route template, never the path
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "m"})
    other_line = json.loads(JsonFormatter("gateway").format(record))
    assert set(other_line) <= set(first)


def test_flush_writes_what_is_pending_at_once() -> None:
    stream = io.StringIO()
    log = AccessLog("gateway", stream)

    async def serve() -> None:
        for status in (200, 304, 401):
            log.write(_scope(), "/v1/{kind}/{id}/qr.png", status, 0.001, 0)
        log.flush()

    asyncio.run(serve())
    assert [json.loads(line)["status"] for line in stream.getvalue().splitlines()] == [
        200, 304, 401]  # fmt: skip


def test_a_log_line_written_inside_a_span_names_its_trace() -> None:
    import json
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    from qrpass.core.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "x"})
    formatter = JsonFormatter("gateway")
    assert "trace_id" not in json.loads(formatter.format(record))
    with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
