"""uvicorn's httptools protocol with a cap on the request head: 431 past 16 KiB, then close.

uvicorn (with httptools) buffers a request line and headers of any size; a client could make
the gateway hold megabytes per connection. This counts head bytes as they arrive, before the
parser buffers them, and stops at the limit.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024
_BODY = json.dumps({
    "type": "https://qrpass.dev/problems/request-header-fields-too-large",
    "title": "Request Header Fields Too Large",
    "status": 431,
    "detail": f"the request line and headers must fit in {MAX_HEAD_BYTES} bytes",
}).encode()  # fmt: skip
_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"connection: close\r\n" + f"content-length: {len(_BODY)}\r\n\r\n".encode() + _BODY
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Counts the bytes of each request head; the body is not counted."""

    _reading_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > MAX_HEAD_BYTES:
                self.transport.write(_RESPONSE)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head, self._head_bytes = True, 0  # the next request on this connection
