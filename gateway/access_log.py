"""One structured line per HTTP request: what was asked, how it was answered, and for which key.

The route is the matched template (`/v1/{kind}/{id}/qr`), never the raw path, so neither a
subject id nor a token in a path reaches the log; the key is named by a prefix of its sha256.

The lines have the shape of every other line (qrpass.core.logs) but are not written through
`logging`: there, with a write per line, one cost about 50 µs, as much as serving the cached
pass it describes. Here a line is formatted in a few µs and lines are written in batches
(docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import time
from typing import TextIO

from starlette.types import Scope

from qrpass.core.logs import json_line

SETTING = "QRPASS_ACCESS_LOG"  # "on" (the default) or "off"
CHOICES = ("on", "off")
LOGGER = "qrpass.access"
# How long a line may wait to be written with the others; a crash loses at most this much.
FLUSH_SECONDS = 0.05
_quoted = json.encoder.encode_basestring  # the C encoder of a JSON string


def wanted(setting_on: bool) -> bool:
    """On unless turned off, and at INFO like any line, so LOG_LEVEL=WARNING hides it too."""
    return setting_on and logging.getLogger(LOGGER).isEnabledFor(logging.INFO)


class AccessLog:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        # Every line's fixed fields, from the one place that shapes log lines.
        template = json.loads(json_line(0, "INFO", service, LOGGER, "request", {}))
        del template["ts"]
        self._fixed = json.dumps(template)[1:-1]
        self._second = -1
        self._second_text = ""
        self._pending: list[str] = []
        self._flush_scheduled = False
        atexit.register(self.flush)

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once a second, not once a line
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1000):03d}Z"

    def write(self, scope: Scope, template: str, status: int, seconds: float, sent: int) -> None:
        state = scope.get("state", {})
        request_id, key_id = state.get("request_id"), state.get("key_id")
        trace_id = state.get("trace_id")  # set for a sampled request (gateway/traces.py)
        traced = f', "trace_id": {_quoted(trace_id)}' if trace_id else ""
        self._pending.append(
            f'{{"ts": "{self._timestamp(time.time())}", {self._fixed}, '
            f'"method": {_quoted(scope["method"])}, "route": {_quoted(template)}, '
            f'"status": {status}, "duration_ms": {seconds * 1000:.3f}, "bytes": {sent}, '
            f'"request_id": {_quoted(request_id) if request_id else "null"}, '
            f'"key_id": {_quoted(key_id) if key_id else "null"}{traced}}}\n'
        )
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            lines, self._pending = "".join(self._pending), []
            self._stream.write(lines)
            self._stream.flush()
