"""What an endpoint reads from its request: the app's backends and caches, the request id, the
subject its path names, its query parameters (refusing unknown ones) and its body, bounded."""

from __future__ import annotations

from starlette.requests import Request

from gateway.batch import RenderBatcher
from gateway.clients import Backends
from gateway.errors import ApiError
from gateway.nearcache import NearCache
from qrpass.core.config import is_ascii_number
from qrpass.vocabulary import BY_PLURAL, ID_PATTERN, ID_RULE, Kind

MAX_TOKEN_BODY = 16 * 1024  # a JSON body that carries one token (verify, check-in, invalidate)


def backends(request: Request) -> Backends:
    both: Backends = request.app.state.backends
    return both


def near_cache(request: Request) -> NearCache:
    cache: NearCache = request.app.state.near_cache
    return cache


def batcher(request: Request) -> RenderBatcher:
    misses: RenderBatcher = request.app.state.batcher
    return misses


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


def path_kind(request: Request) -> Kind:
    kind = BY_PLURAL.get(request.path_params["kind"])
    if kind is None:
        raise ApiError(404, f"the kind must be {' or '.join(BY_PLURAL)}")
    return kind


def path_subject(request: Request) -> tuple[Kind, str]:
    kind = path_kind(request)
    subject_id = request.path_params["id"]
    if not ID_PATTERN.fullmatch(subject_id):
        raise ApiError(400, f"the id must match {ID_RULE}")
    return kind, subject_id


def only_params(request: Request, allowed: set[str]) -> None:
    """Refuse a query parameter the route does not take, naming the ones it does."""
    unknown = set(request.query_params) - allowed
    if unknown:
        names = ", ".join(sorted(allowed))
        raise ApiError(400, f"unknown query parameter {sorted(unknown)[0]!r}; use {names}")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never buffered whole)."""
    length = request.headers.get("content-length", "")
    if is_ascii_number(length) and int(length) > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
