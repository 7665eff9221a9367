"""The OpenAPI 3.1 document for /openapi.json, built from the same route table the app serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import (
    ADMISSION_NAMES,
    DEFAULT_BORDER,
    DEFAULT_SCALE,
    EC_LEVELS,
    GATE_RULE,
    HEX_COLOUR_RULE,
    ID_RULE,
    KINDS,
    MAX_BATCH_SCANS,
    MAX_BORDER,
    MAX_SIDE_PX,
    MAX_TOKEN_BYTES,
    MIN_CONTRAST_RATIO,
    MIN_SCALE,
    SCAN_ID_RULE,
)

_KIND_NAMES: list[str | None] = [kind.name for kind in KINDS]
_FAILURES: list[str | None] = [
    name.removeprefix("FAILURE_REASON_").lower()
    for name, value in token_pb.FailureReason.items()
    if value != token_pb.FAILURE_REASON_UNSPECIFIED
]

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
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


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(properties: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(required if required is not None else properties)}  # fmt: skip


_INT = {"type": "integer"}
_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULL_STR = {"type": ["string", "null"]}
_ADMISSION = {"type": "string", "enum": list(ADMISSION_NAMES.values())}
_SCAN_IN = {**_obj({
    "token": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_BYTES},
    "gate": {"type": "string", "pattern": f"^{GATE_RULE}$",
             "description": "1 to 64 characters: no control characters, no space at either end."},
    "direction": {"type": "string", "enum": ["in", "out"], "default": "in"},
    "scan_id": {"type": "string", "pattern": f"^{SCAN_ID_RULE}$",
                "description": "Chosen by the scanner; the same id again returns the first answer."},
    "scanned_at": {**_TIME, "description": "When the scan happened; default now."},
}, ["token", "gate"]), "additionalProperties": False}  # fmt: skip
_IMAGE_HEADERS = {"ETag": {"schema": _STR}, "Cache-Control": {"schema": _STR}}

OPERATIONS: dict[str, dict[str, Any]] = {
    "healthz": {"summary": "Liveness of the gateway itself.",
                "responses": {"200": _json(_obj({"status": _STR}))}},
    "readyz": {"summary": "Readiness, with each backend's health in the body.",
               "responses": {"200": _json(_obj({"status": _STR, "backends": {"type": "object"}}))}},
    "metrics": {"summary": "Prometheus metrics.",
                "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": _STR}}}}},
    "openapi": {"summary": "This document.", "responses": {"200": _json({"type": "object"})}},
    "jwks": {"summary": "Public keys for offline verification (empty with HS256).",
             "responses": {"200": _json(_obj({"keys": {"type": "array", "items": {"type": "object"}}}))}},
    "verify": {
        "summary": "Verify a scanned pass; an invalid pass is a 200 with `valid: false`.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["token"],
            "properties": {"token": {"type": "string", "minLength": 1, "maxLength": MAX_TOKEN_BYTES},
                           "expected_kind": {"type": ["string", "null"], "enum": [*_KIND_NAMES, None],
                                             "description": "Absent or null accepts either kind."}}}}}},
        "responses": {"200": _json(_obj(
            {"valid": {"type": "boolean"},
             "kind": {"type": ["string", "null"], "enum": [*_KIND_NAMES, None]},
             "subject_id": {"type": ["string", "null"]},
             **{kind.id_field: _STR for kind in KINDS},
             **{kind.identity_field: _STR for kind in KINDS}, "name": _STR,
             "error": {"type": ["string", "null"], "enum": [None, *_FAILURES]}},
            ["valid", "kind", "subject_id", "error"]))},
    },
    "check_in": {
        "summary": "Verify a pass at a gate and record the scan: admitted, already_inside (with the "
                   "entry that counts), exited, not_inside, or rejected.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SCAN_IN}}},
        "responses": {"200": _json({"$ref": "#/components/schemas/CheckIn"})},
    },
    "check_in_batch": {
        "summary": "Upload up to 1000 offline scans; applied in scanned_at order, idempotent per "
                   "scan_id, answered in the request's order.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {**_obj({
            "scans": {"type": "array", "maxItems": MAX_BATCH_SCANS,
                      "items": {**_SCAN_IN, "required": ["token", "gate", "scan_id", "scanned_at"]}}}),
            "additionalProperties": False}}}},
        "responses": {"200": _json(_obj({"results": {
            "type": "array", "items": {"$ref": "#/components/schemas/CheckIn"}}}))},
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
            {"name": "kind", "in": "query", "schema": {"type": "string", "enum": _KIND_NAMES}},
            {"name": "subject_id", "in": "query", "schema": _STR},
            {"name": "gate", "in": "query", "schema": _STR},
            {"name": "since", "in": "query", "schema": _TIME},
            {"name": "inside", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
            {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "page_token", "in": "query", "schema": _STR},
        ],
        "responses": {"200": _json(_obj({
            "scans": {"type": "array", "items": _obj({
                "id": _INT, "kind": {"type": ["string", "null"], "enum": [*_KIND_NAMES, None]},
                "subject_id": _NULL_STR, "gate": _STR, "direction": {"type": "string", "enum": ["in", "out"]},
                "scanned_at": _TIME, "scan_id": _NULL_STR, "admission": _ADMISSION, "error": _NULL_STR})},
            "next_page_token": _STR,
            "inside": _obj({kind.name: _INT for kind in KINDS})}))},
    },
    "prune_scans": {
        "summary": "Delete the scans made before a time; who is inside now is kept.",
        "parameters": [{"name": "before", "in": "query", "required": True, "schema": _TIME}],
        "responses": {"200": _json(_obj({"deleted": _INT}))},
    },
    "pass_json": {"summary": "A subject's pass: token and PNG data URL.", "parameters": [_KIND, _ID],
                  "responses": {"200": _json(_obj({"success": {"type": "boolean"}, "qr_token": _STR,
                                                   "qr_image": _STR, "cached": {"type": "boolean"}}))}},
    "pass_png": {"summary": "A subject's pass as PNG.", "parameters": [_KIND, _ID, *_IMAGE_QUERY],
                 "responses": {"200": {"description": "The image", "headers": _IMAGE_HEADERS,
                                       "content": {"image/png": {}}},
                               "304": {"description": "Not modified (If-None-Match)"}}},
    "pass_svg": {"summary": "A subject's pass as SVG.", "parameters": [_KIND, _ID, *_IMAGE_QUERY],
                 "responses": {"200": {"description": "The image", "headers": _IMAGE_HEADERS,
                                       "content": {"image/svg+xml": {}}},
                               "304": {"description": "Not modified (If-None-Match)"}}},
    "rotate": {"summary": "Issue a new token; the old one verifies as revoked.",
               "parameters": [_KIND, _ID], "responses": {"200": _json(_obj({"qr_token": _STR}))}},
    "delete_subject": {"summary": "Delete a subject.", "parameters": [_KIND, _ID],
                       "responses": {"204": {"description": "Deleted"}}},
    "import_subjects": {
        "summary": "Import CSV or XLSX, raw or as multipart field `file`; all or nothing.",
        "parameters": [_KIND],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": _STR},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {"schema": _obj({"file": {"type": "string", "format": "binary"}})}}},
        "responses": {"200": _json(_obj({"created": _INT, "updated": _INT, "unchanged": _INT}))},
    },
    "cache_stats": {"summary": "Image cache statistics.",
                    "description": "entries, memory and evictions are the backend's (on Redis, "
                                   "the whole server's memory; entries count qrpass's images "
                                   "only). hits, misses and bypasses are the answering replica's "
                                   "since its start: sum qrpass_image_cache_lookups_total in "
                                   "Prometheus for every replica.",
                    "responses": {"200": _json(_obj({
        "backend": _STR, "connected": {"type": "boolean"}, "entries": _INT, "memory_bytes": _INT,
        "max_memory_bytes": _INT, "evictions": _INT, "replica": _STR,
        "hits": _INT, "misses": _INT, "bypasses": _INT, "hit_ratio": {"type": "number"}}))}},
    "cache_clear": {"summary": "Drop every cached image.",
                    "responses": {"200": _json(_obj({"deleted": _INT}))}},
    "cache_invalidate": {
        "summary": "Drop one pass's cached images, the default and every variant.",
        "description": "A gateway's near-cache may keep serving the default PNG it holds: the "
                       "same bytes a new render makes.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["token"], "additionalProperties": False,
            "properties": {"token": {"type": "string", "minLength": 1,
                                     "maxLength": MAX_TOKEN_BYTES}}}}}},
        "responses": {"200": _json(_obj({"deleted": _INT}))}},
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
        if endpoint.__name__ in ("verify", "import_subjects", "check_in", "check_in_batch",
                                 "cache_invalidate"):  # fmt: skip
            errors += ["413", "415"] if endpoint.__name__ == "import_subjects" else ["413"]
        if endpoint.__name__ == "import_subjects":
            errors.append("422")
        responses.update({code: _ERRORS[code] for code in errors})
        operation["responses"] = responses
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "qrpass gateway", "version": "1.0.0",
                 "description": "QR passes for students and stalls."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": _obj({"type": _STR, "title": _STR, "status": _INT, "detail": _STR}),
                "CheckIn": _obj({
                    **OPERATIONS["verify"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"],
                    "admission": _ADMISSION,
                    "entered": _obj({"at": _TIME, "gate": _STR}),
                    "scan_id": _NULL_STR, "scanned_at": _TIME},
                    ["valid", "kind", "subject_id", "error", "admission", "scan_id", "scanned_at"]),
            },
        },
    }  # fmt: skip
