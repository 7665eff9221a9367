"""The HTTP routes: passes, images, verify, JWKS, and the admin routes. Each one is a few RPCs."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from prometheus_client.exposition import choose_encoder
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.answers import (
    CacheStats,
    Deleted,
    Imported,
    Jwk,
    Jwks,
    Ready,
    Rotated,
    RowProblem,
    Status,
    Verdict,
    verdict_fields,
)
from gateway.bodies import InvalidateRequest, VerifyRequest, decode
from gateway.context import (
    MAX_TOKEN_BODY,
    backends,
    batcher,
    near_cache,
    only_params,
    path_kind,
    path_subject,
    read_body,
    request_id,
)
from gateway.errors import ApiError
from gateway.nearcache import Entry, pass_body
from gateway.responses import (
    IMAGE_MAX_AGE_SECONDS,
    JSON_HEADERS,
    etag_matches,
    image_headers,
    json_response,
    raw_response,
)
from qrpass.core.config import is_ascii_number
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.vocabulary import (
    BY_NAME,
    EC_LEVEL_VALUES,
    EC_LEVELS,
    HEX_COLOUR_PATTERN,
    MAX_BORDER,
    MAX_SIDE_PX,
    MIN_SCALE,
    Kind,
)

MAX_IMPORT_BODY = 21 * 1024 * 1024  # the token service refuses files over 20 MB itself
_IMAGE_PARAMS = {"scale", "border", "ec", "dark", "light"}
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _current_token(request: Request, kind: Kind, subject_id: str) -> tuple[str, int]:
    """The subject's token and the position it reflects: as the change stream named it, or
    for a subject the stream has not named yet, from the token service."""
    cache = near_cache(request)
    token = cache.token(kind.plural, subject_id)
    if token is not None:
        return token, cache.sequence
    issued = await backends(request).token.issue(
        kind, subject_id, min_sequence=cache.sequence, request_id=request_id(request)
    )
    return issued.token, issued.sequence


async def _pass(request: Request) -> tuple[Entry, bool]:
    """The subject's token and default PNG, and whether it was a cache hit: from the near-cache,
    or else the image of its current token (one call, batched with other misses); then kept,
    unless a newer change made the answer stale."""
    kind, subject_id = path_subject(request)
    cache = near_cache(request)
    entry = cache.get(kind.plural, subject_id)
    if entry is not None:
        return entry, True
    token, sequence = await _current_token(request, kind, subject_id)
    image = await batcher(request).render(token, request_id(request))
    entry = Entry(token, image.image, image.etag)
    cache.put(kind.plural, subject_id, entry, sequence)
    return entry, image.cache_status == image_pb.CACHE_STATUS_HIT


async def pass_json(request: Request) -> Response:
    """The seed-compatible pass: token plus a data-URL PNG."""
    entry, hit = await _pass(request)
    body = entry.json_body if hit else pass_body(entry.token, entry.png, cached=False)
    return raw_response(200, JSON_HEADERS, body)


def _int_param(name: str, raw: str, low: int, high: int) -> int:
    if not is_ascii_number(raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def _render_options(
    request: Request, image_format: image_pb.ImageFormat.ValueType
) -> image_pb.RenderOptions:
    query = request.query_params
    only_params(request, _IMAGE_PARAMS)
    options = image_pb.RenderOptions(format=image_format)
    if "scale" in query:
        options.scale = _int_param("scale", query["scale"], MIN_SCALE, MAX_SIDE_PX)
    if "border" in query:
        options.border = _int_param("border", query["border"], 0, MAX_BORDER)
    if "ec" in query:
        level = EC_LEVEL_VALUES.get(query["ec"].upper())
        if level is None:
            raise ApiError(400, f"ec must be one of {', '.join(EC_LEVELS)}, got {query['ec']!r}")
        options.error_correction = level
    for name, field in (("dark", "dark_color"), ("light", "light_color")):
        if name in query:
            if not HEX_COLOUR_PATTERN.fullmatch(query[name]):
                raise ApiError(400, f"{name} must be a colour as rrggbb, got {query[name]!r}")
            setattr(options, field, "#" + query[name].lower())
    return options


async def _pass_image(request: Request, image_format: image_pb.ImageFormat.ValueType) -> Response:
    if image_format == image_pb.IMAGE_FORMAT_PNG and not request.query_params:
        entry, _ = await _pass(request)  # the default PNG: the near-cache's
        etag, content_type, data, max_age = entry.etag, "image/png", entry.png, None
    else:
        options = _render_options(request, image_format)
        token, _ = await _current_token(request, *path_subject(request))
        image = await backends(request).image.render(token, options, request_id=request_id(request))
        etag, content_type, data = image.etag, image.content_type, image.image
        # A bypassed render is not cached server-side yet: let clients come back for it soon.
        max_age = 5 if image.cache_status == image_pb.CACHE_STATUS_BYPASS else None
    headers = image_headers(content_type, etag, max_age or IMAGE_MAX_AGE_SECONDS)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return raw_response(304, headers)
    return raw_response(200, headers, data)


async def pass_png(request: Request) -> Response:
    return await _pass_image(request, image_pb.IMAGE_FORMAT_PNG)


async def pass_svg(request: Request) -> Response:
    return await _pass_image(request, image_pb.IMAGE_FORMAT_SVG)


async def verify(request: Request) -> Response:
    body = decode(VerifyRequest, await read_body(request, MAX_TOKEN_BODY))
    reply = await backends(request).token.verify(
        body.token,
        expected_kind=BY_NAME[body.expected_kind] if body.expected_kind else None,
        min_sequence=near_cache(request).sequence,
        request_id=request_id(request),
    )
    return json_response(Verdict(**verdict_fields(reply)))


async def jwks(request: Request) -> Response:
    reply = await backends(request).token.jwks(request_id=request_id(request))
    keys = [Jwk(kty=k.kty, crv=k.crv, x=k.x, kid=k.kid, alg=k.alg, use=k.use) for k in reply.keys]
    return json_response(Jwks(keys=keys), headers={"Cache-Control": "public, max-age=300"})


async def rotate(request: Request) -> Response:
    kind, subject_id = path_subject(request)
    reply = await backends(request).token.rotate(kind, subject_id, request_id=request_id(request))
    near_cache(request).wrote(kind.plural, subject_id, reply.sequence)
    return json_response(Rotated(qr_token=reply.token))


async def delete_subject(request: Request) -> Response:
    kind, subject_id = path_subject(request)
    reply = await backends(request).token.delete(kind, subject_id, request_id=request_id(request))
    near_cache(request).wrote(kind.plural, subject_id, reply.sequence)
    return Response(status_code=204)


async def _import_content(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, MAX_IMPORT_BODY)
    if content_type != "multipart/form-data":
        if content_type not in ("text/csv", _XLSX, "application/octet-stream", ""):
            raise ApiError(415, "send text/csv, XLSX, or multipart/form-data with a 'file' field")
        return body

    async def stream() -> AsyncGenerator[bytes]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise ApiError(400, f"the multipart body is malformed: {error.message}") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "the multipart body needs a file field named 'file'")
    try:
        return await upload.read()
    finally:
        await form.close()


async def import_subjects(request: Request) -> Response:
    kind = path_kind(request)
    content = await _import_content(request)
    timeout = request.app.state.settings.import_deadline_seconds
    try:
        reply = await backends(request).token.import_subjects(
            kind, content, timeout=timeout, request_id=request_id(request)
        )
    except ApiError as error:
        if error.status != 504:
            raise
        raise ApiError(504, (
            f"the import did not finish within {timeout:g} s, so its outcome is unknown: it "
            f"wrote every row or none. Look one of its subjects up (GET /v1/{kind.plural}/<id>/qr) "
            "before retrying; importing the same file again is safe"
        )) from None  # fmt: skip
    near_cache(request).wrote(kind.plural, None, reply.sequence)
    if reply.errors:
        errors = [RowProblem(line=e.line, field=e.field, reason=e.reason) for e in reply.errors]
        raise ApiError(422, f"{len(errors)} problem(s) in the file; nothing was written",
                       errors=errors)  # fmt: skip
    return json_response(
        Imported(created=reply.created, updated=reply.updated, unchanged=reply.unchanged)
    )


async def cache_stats(request: Request) -> Response:
    reply = await backends(request).image.cache_stats(request_id=request_id(request))
    # The answer's fields are the reply's, by name. hits, misses and bypasses are this one
    # replica's since its start; Prometheus sums qrpass_image_cache_lookups_total over all.
    fields = {name: getattr(reply, name) for name in CacheStats.__struct_fields__}
    return json_response(CacheStats(**fields))


async def cache_clear(request: Request) -> Response:
    reply = await backends(request).image.clear_cache(timeout=300, request_id=request_id(request))
    return json_response(Deleted(deleted=reply.deleted))


async def cache_invalidate(request: Request) -> Response:
    """Drops one pass's cached images, every variant (the original's clearQRCache(token)).
    A gateway's near-cache may still hold the default PNG: the same bytes a render would make."""
    body = decode(InvalidateRequest, await read_body(request, MAX_TOKEN_BODY))
    reply = await backends(request).image.invalidate_all(body.token, request_id=request_id(request))
    return json_response(Deleted(deleted=reply.deleted))


async def healthz(request: Request) -> Response:
    return json_response(Status(status="ok"))


async def readyz(request: Request) -> Response:
    # Backend outages do not make the gateway unready: verify still works without images.
    return json_response(Ready(status="ready", backends=await backends(request).health()))


async def metrics(request: Request) -> Response:
    """The Prometheus text format, or OpenMetrics when the scraper asks for it (as the services'
    own endpoints do: prometheus-client's encoder choice, from the Accept header)."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(request.app.state.registry), headers={"Content-Type": content_type})


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)
