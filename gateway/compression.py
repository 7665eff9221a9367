"""Content-Encoding for the gateway's text bodies (JSON, JOSE): gzip through Starlette's
GZipMiddleware, never for images, which are compressed already. Brotli was measured and left
out (docs/decisions.md): on a pass, base64 of a PNG, it saves 1 point more than gzip."""

from __future__ import annotations

import gzip

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Below this a gzip header and trailer (18 bytes) and the CPU are not worth it.
MIN_COMPRESS_BYTES = 1024
GZIP_LEVEL = 6  # zlib's default; on a pass, level 9 saves 3 bytes more


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip: listed (or `*`) with a q-value above 0."""
    if not accept_encoding:
        return False
    allowed: dict[str, bool] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        allowed[name.strip().lower()] = quality > 0
    return allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", False)))


def gzipped(body: bytes) -> bytes:
    """The body gzip-compressed, byte for byte the same each time (no timestamp)."""
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


def accept_encoding(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"accept-encoding":
            return value.decode("latin-1")
    return None


class Compression:
    """GZipMiddleware, except for a client that names gzip only to refuse it (`gzip;q=0`):
    Starlette looks for the word, RFC 9110 §12.5.3 reads the q-value."""

    def __init__(self, app: ASGIApp) -> None:
        self._plain = app
        self._gzip = GZipMiddleware(app, minimum_size=MIN_COMPRESS_BYTES, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = accept_encoding(scope)
            if header and "gzip" in header.lower() and not accepts_gzip(header):
                await self._plain(scope, receive, send)
                return
        await self._gzip(scope, receive, send)
