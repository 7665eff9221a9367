"""Content-Encoding negotiation (RFC 9110 §12.5.3) for bodies worth compressing."""

from __future__ import annotations

import gzip

# Below this a gzip header and trailer (18 bytes) and the CPU are not worth it.
MIN_COMPRESS_BYTES = 1024
GZIP_LEVEL = 6  # zlib's default: within a few per cent of level 9 at a third of the CPU


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


def negotiate(body: bytes, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
    """The body to send and its encoding headers; `Vary` always, since the answer depends on it."""
    headers = {"Vary": "Accept-Encoding"}
    if len(body) >= MIN_COMPRESS_BYTES and accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        return gzip.compress(body, GZIP_LEVEL, mtime=0), headers
    return body, headers
