"""uvicorn's httptools protocol with limits on the request head: 16 KiB, and 10 s to send it.

uvicorn (with httptools) buffers a request line and headers of any size and waits for them
forever; a client could make the gateway hold megabytes per connection, or hold thousands of
connections by sending a head a byte at a time (slowloris). This counts head bytes as they
arrive, before the parser buffers them, and closes a connection whose head is not complete
within HEAD_TIMEOUT_SECONDS of its first byte (or of the connection, for a silent one).
Idle keep-alive connections between requests are closed by uvicorn's own keep-alive timeout.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import TITLES, problem_body

MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT_SECONDS = 10.0


def _closing_problem(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 problem+json response that closes the connection."""
    body = problem_body(status, detail)
    head = (
        f"HTTP/1.1 {status} {TITLES[status]}\r\ncontent-type: application/problem+json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_TOO_LARGE = _closing_problem(
    431,
    f"the request line and headers must fit in {MAX_HEAD_BYTES} bytes",
)
_TOO_SLOW = _closing_problem(
    408,
    f"the request line and headers must arrive within {HEAD_TIMEOUT_SECONDS:g} s",
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Bounds each request head in bytes and in time; the body is not counted."""

    _reading_head = True
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._reading_head or self.transport.is_closing():
            return
        if self._head_bytes:
            self.transport.write(_TOO_SLOW)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._head_timer is None:  # a new request on a kept-alive connection
                self._arm_head_timer()
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > MAX_HEAD_BYTES:
                self.transport.write(_TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head, self._head_bytes = True, 0  # the next request on this connection
