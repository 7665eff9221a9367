"""One JSON object per log line on stdout, configured once by each process's __main__."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace

# Standard record attributes, plus uvicorn's terminal-only duplicate of the message.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"color_message"}


def trace_id_hex(context: trace.SpanContext) -> str:
    """A trace id as trace viewers, logs and exemplars show it: 32 hex digits."""
    return format(context.trace_id, "032x")


def current_trace_id() -> str | None:
    """The current span's trace id, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return trace_id_hex(context) if context.is_valid else None


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line, keeping `extra=` fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _RESERVED and k[0] != "_"}
        trace_id = current_trace_id()
        if trace_id is not None and "trace_id" not in fields:  # the trace this line belongs to
            fields["trace_id"] = trace_id
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json_line(
            record.created, record.levelname, self._service, record.name, record.getMessage(),
            fields,
        )  # fmt: skip


def json_line(
    created: float, level: str, service: str, logger: str, message: str, fields: dict[str, Any]
) -> str:
    """The one shape of every log line, whether written through `logging` or not."""
    seconds, fraction = divmod(created, 1)
    entry = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        + f".{int(fraction * 1000):03d}Z",
        "level": level,
        "service": service,
        "logger": logger,
        "msg": message,
        **fields,
    }
    return json.dumps(entry, default=str)


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
