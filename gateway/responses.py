"""How the gateway writes an answer: JSON from a Struct, raw bytes with headers, and the image
headers with their ETag rule. The routes and the hot path both build responses with these."""

from __future__ import annotations

import msgspec
from msgspec import Struct
from starlette.responses import Response

IMAGE_MAX_AGE_SECONDS = 300
JSON_HEADERS = [(b"content-type", b"application/json")]


def json_response(answer: Struct, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(answer), 200, headers, media_type="application/json")


def raw_response(status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Response:
    response = Response(body, status)
    response.raw_headers = [*headers, *response.raw_headers]
    return response


def image_headers(content_type: str, etag: str, max_age: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", content_type.encode()),
        (b"etag", etag.encode()),
        (b"cache-control", f"private, max-age={max_age}".encode()),
    ]


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates
