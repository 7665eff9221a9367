"""The OpenAPI 3.1 document for /openapi.json, built from the same route table the app serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from msgspec import Struct

from gateway.answers import (
    RESPONSE_MODELS,
    CacheStats,
    CheckIn,
    CheckIns,
    Deleted,
    Imported,
    Jwks,
    Ledger,
    Pass,
    Ready,
    Rotated,
    Status,
    Verdict,
)
from gateway.bodies import (
    REQUEST_MODELS,
    BatchCheckInRequest,
    CheckInRequest,
    InvalidateRequest,
    VerifyRequest,
)
from gateway.names import DATE_TIME
from qrpass.vocabulary import (
    BY_NAME,
    DEFAULT_BORDER,
    DEFAULT_SCALE,
    EC_LEVELS,
    HEX_COLOUR_RULE,
    ID_RULE,
    KINDS,
    MAX_BATCH_SCANS,
    MAX_BORDER,
    MAX_SIDE_PX,
    MIN_CONTRAST_RATIO,
    MIN_SCALE,
)

_REF = "#/components/schemas/{name}"
_PROBLEM = {"$ref": _REF.format(name="Problem")}
_ERRORS = {
    code: {"description": text, "content": {"application/problem+json": {"schema": _PROBLEM}}}
    for code, text in (
        ("400", "A parameter or the body is invalid; `detail` says which and why."),
        ("401", "No API key, or a wrong one."),
        ("403", "The key's level is below the route's (scanner < client < admin)."),
        ("404", "No such subject or route."),
        ("413", "The body is too large."),
        ("415", "The body's media type is not accepted."),
        ("422", "Rows of the import file are invalid; nothing was written."),
        (
            "429",
            "The per-key rate limit, or the limit on wrong keys per address, was reached; see Retry-After.",
        ),
        ("503", "A backend service is unavailable."),
        ("504", "A backend service did not answer in time."),
    )
}
_KIND = {"name": "kind", "in": "path", "required": True,
         "schema": {"type": "string", "enum": [kind.plural for kind in KINDS]}}  # fmt: skip
_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "string", "pattern": f"^{ID_RULE}$"}}  # fmt: skip
_IMAGE_QUERY = [
    {"name": "scale", "in": "query", "schema": {"type": "integer", "minimum": MIN_SCALE, "maximum": MAX_SIDE_PX},
     "description": f"Pixels per module (default {DEFAULT_SCALE}, at least {MIN_SCALE}: fewer do not "
                    f"scan); the image is at most {MAX_SIDE_PX} px on a side."},
    {"name": "border", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_BORDER},
     "description": f"Quiet zone in modules (default {DEFAULT_BORDER}, as ISO/IEC 18004 asks). Fewer "
                    "are allowed for a caller who sets the code in a margin of its own; the image "
                    "still decodes on its own at every border from 0."},
    {"name": "ec", "in": "query", "schema": {"type": "string", "enum": list(EC_LEVELS)}},
    {"name": "dark", "in": "query", "schema": {"type": "string", "pattern": f"^{HEX_COLOUR_RULE}$"},
     "description": f"Module colour, rrggbb (default 000000). It must be darker than `light` by a "
                    f"contrast ratio of at least {MIN_CONTRAST_RATIO:g}:1 (WCAG's)."},
    {"name": "light", "in": "query", "schema": {"type": "string", "pattern": f"^{HEX_COLOUR_RULE}$"},
     "description": "Background colour, rrggbb (default ffffff)."},
]  # fmt: skip


def _ref(model: type[Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=model.__name__)}


def _json(model: type[Struct], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _body(model: type[Struct]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


_STR = {"type": "string"}
_TIME = {"type": "string", **DATE_TIME}
_IMAGE_HEADERS = {"ETag": {"schema": _STR}, "Cache-Control": {"schema": _STR}}

OPERATIONS: dict[str, dict[str, Any]] = {
    "healthz": {"summary": "Liveness of the gateway itself.", "responses": {"200": _json(Status)}},
    "readyz": {"summary": "Readiness, with each backend's health in the body.",
               "responses": {"200": _json(Ready)}},
    "metrics": {"summary": "Prometheus metrics.",
                "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": _STR}}}}},
    "openapi": {"summary": "This document.", "responses": {"200": {
        "description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}},
    "jwks": {"summary": "Public keys for offline verification (empty with HS256).",
             "responses": {"200": _json(Jwks)}},
    "verify": {
        "summary": "Verify a scanned pass; an invalid pass is a 200 with `valid: false`.",
        "requestBody": _body(VerifyRequest),
        "responses": {"200": _json(Verdict)},
    },
    "check_in": {
        "summary": "Verify a pass at a gate and record the scan: admitted, already_inside (with the "
                   "entry that counts), exited, not_inside, or rejected.",
        "requestBody": _body(CheckInRequest),
        "responses": {"200": _json(CheckIn)},
    },
    "check_in_batch": {
        "summary": f"Upload up to {MAX_BATCH_SCANS} offline scans; applied in scanned_at order, "
                   "idempotent per scan_id, answered in the request's order.",
        "requestBody": _body(BatchCheckInRequest),
        "responses": {"200": _json(CheckIns)},
    },
    "revocations": {
        "summary": "The subjects whose older passes no longer verify, as a compact JWS signed by "
                   "the active key (verify it with /v1/jwks). Without `since` the whole list.",
        "parameters": [{"name": "since", "in": "query", "schema": _STR,
                        "description": "The `cursor` of the previous list."}],
        "responses": {"200": {"description": "A compact JWS; its payload is "
                              '{"cursor", "full", "revocations": [{"kind", "subject_id", "min_version"}]}',
                              "content": {"application/jose": {"schema": _STR}}}},
    },
    "list_scans": {
        "summary": "The scan ledger, oldest first, or (inside=true) the entries of those inside now.",
        "parameters": [
            {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(BY_NAME)}},
            {"name": "subject_id", "in": "query", "schema": _STR},
            {"name": "gate", "in": "query", "schema": _STR},
            {"name": "since", "in": "query", "schema": _TIME},
            {"name": "inside", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
            {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "page_token", "in": "query", "schema": _STR},
        ],
        "responses": {"200": _json(Ledger)},
    },
    "prune_scans": {
        "summary": "Delete the scans made before a time; who is inside now is kept.",
        "parameters": [{"name": "before", "in": "query", "required": True, "schema": _TIME}],
        "responses": {"200": _json(Deleted)},
    },
    "pass_json": {"summary": "A subject's pass: token and PNG data URL.", "parameters": [_KIND, _ID],
                  "responses": {"200": _json(Pass)}},
    "pass_png": {"summary": "A subject's pass as PNG.", "parameters": [_KIND, _ID, *_IMAGE_QUERY],
                 "responses": {"200": {"description": "The image", "headers": _IMAGE_HEADERS,
                                       "content": {"image/png": {}}},
                               "304": {"description": "Not modified (If-None-Match)"}}},
    "pass_svg": {"summary": "A subject's pass as SVG.", "parameters": [_KIND, _ID, *_IMAGE_QUERY],
                 "responses": {"200": {"description": "The image", "headers": _IMAGE_HEADERS,
                                       "content": {"image/svg+xml": {}}},
                               "304": {"description": "Not modified (If-None-Match)"}}},
    "rotate": {"summary": "Issue a new token; the old one verifies as revoked.",
               "parameters": [_KIND, _ID], "responses": {"200": _json(Rotated)}},
    "delete_subject": {"summary": "Delete a subject.", "parameters": [_KIND, _ID],
                       "responses": {"204": {"description": "Deleted"}}},
    "import_subjects": {
        "summary": "Import CSV or XLSX, raw or as multipart field `file`; all or nothing.",
        "parameters": [_KIND],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": _STR},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}}}}}},
        "responses": {"200": _json(Imported)},
    },
    "cache_stats": {"summary": "Image cache statistics.", "responses": {"200": _json(CacheStats)}},
    "cache_clear": {"summary": "Drop every cached image.", "responses": {"200": _json(Deleted)}},
    "cache_invalidate": {
        "summary": "Drop one pass's cached images, the default and every variant.",
        "description": "A gateway's near-cache may keep serving the default PNG it holds: the "
                       "same bytes a new render makes.",
        "requestBody": _body(InvalidateRequest),
        "responses": {"200": _json(Deleted)}},
}  # fmt: skip


_ACCESS_TEXT = {
    "scanner": "Any API key: scanner, client or admin.",
    "client": "A client or admin API key (a scanner key gets 403).",
    "admin": "An admin API key.",
}


def build_openapi(
    route_table: Sequence[tuple[str, str, Callable[..., Any], str]],
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, endpoint, access in route_table:
        operation = dict(OPERATIONS[endpoint.__name__])
        operation["operationId"] = endpoint.__name__
        responses = dict(operation["responses"])
        errors = ["503", "504"] if access == "public" and path.startswith("/v1") else []
        operation["x-qrpass-access"] = access
        if access != "public":
            errors = ["400", "401", "404", "429", "503", "504"]
            errors += ["403"] if access != "scanner" else []
            operation["security"] = [{"bearer": []}]
            text = f"{operation.get('description', '')} {_ACCESS_TEXT[access]}"
            operation["description"] = text.strip()
        if "requestBody" in operation:
            errors.append("413")
        if endpoint.__name__ == "import_subjects":
            errors += ["415", "422"]
        responses.update({code: _ERRORS[code] for code in errors})
        operation["responses"] = responses
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "qrpass gateway",
            "version": "1.0.0",
            "description": "QR passes for students and stalls.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": msgspec.json.schema_components(
                (*REQUEST_MODELS, *RESPONSE_MODELS), ref_template=_REF
            )[1],
        },
    }
