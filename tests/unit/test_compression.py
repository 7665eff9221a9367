"""Accept-Encoding negotiation."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from starlette.responses import Response
from starlette.types import ASGIApp, Message

from gateway.compression import MIN_COMPRESS_BYTES, Compression, accepts_gzip, gzipped


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("deflate, x-gzip", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_gzip(header, gzip_ok) -> None:
    assert accepts_gzip(header) is gzip_ok


def _app(body: bytes, media_type: str) -> ASGIApp:
    return Compression(Response(body, media_type=media_type))


def _get(app: ASGIApp, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """Calls the ASGI app as a server would; the raw body, encoding left as it is."""
    scope = {"type": "http", "method": "GET", "path": "/",
             "headers": [(b"accept-encoding", accept_encoding.encode())]}  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return b"".join(m.get("body", b"") for m in sent[1:]), headers


def test_text_bodies_worth_it_are_gzipped_when_the_client_accepts() -> None:
    big = b'{"x": "' + b"y" * MIN_COMPRESS_BYTES + b'"}'
    body, headers = _get(_app(big, "application/json"), "gzip, br")
    assert headers["content-encoding"] == "gzip" and "Accept-Encoding" in headers["vary"]
    assert gzip.decompress(body) == big
    jose = _app(big, "application/jose")
    assert _get(jose, "gzip")[1]["content-encoding"] == "gzip"


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0", "br"])
def test_no_gzip_for_a_client_that_refuses_it(accept_encoding: str) -> None:
    big = b"y" * (MIN_COMPRESS_BYTES * 2)
    body, headers = _get(_app(big, "application/json"), accept_encoding)
    assert body == big and "content-encoding" not in headers


def test_no_gzip_for_images_or_small_bodies() -> None:
    png = b"\x89PNG" + b"y" * MIN_COMPRESS_BYTES * 2
    body, headers = _get(_app(png, "image/png"), "gzip")
    assert body == png and "content-encoding" not in headers
    small = b"y" * (MIN_COMPRESS_BYTES - 1)
    assert _get(_app(small, "application/json"), "gzip")[0] == small


def test_gzipped_is_stable() -> None:
    body = b"z" * 5000
    assert gzipped(body) == gzipped(body) and gzip.decompress(gzipped(body)) == body
