"""The OpenAPI 3.1 document for /openapi.json, built from the route rows the app serves
(gateway/route_table.py), and the schema fragments those rows use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from msgspec import Struct

from gateway.answers import RESPONSE_MODELS
from gateway.bodies import REQUEST_MODELS
from gateway.names import DATE_TIME
from gateway.routing import ApiRoute
from qrpass.vocabulary import (
    DEFAULT_BORDER,
    DEFAULT_SCALE,
    EC_LEVELS,
    HEX_COLOUR_RULE,
    ID_RULE,
    KINDS,
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
KIND = {"name": "kind", "in": "path", "required": True,
        "schema": {"type": "string", "enum": [kind.plural for kind in KINDS]}}  # fmt: skip
ID = {"name": "id", "in": "path", "required": True,
      "schema": {"type": "string", "pattern": f"^{ID_RULE}$"}}  # fmt: skip
IMAGE_QUERY = [
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
STRING = {"type": "string"}
DATE_TIME_STRING = {"type": "string", **DATE_TIME}
IMPORT_BODY = {"required": True, "content": {
    "text/csv": {"schema": STRING},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}  # fmt: skip


def typed_answer(
    content_type: str, schema: Mapping[str, Any], description: str = "OK"
) -> dict[str, Any]:
    """The responses of a route that answers something other than a JSON Struct."""
    return {"200": {"description": description, "content": {content_type: {"schema": schema}}}}


def image_answer(content_type: str) -> dict[str, Any]:
    headers = {"ETag": {"schema": STRING}, "Cache-Control": {"schema": STRING}}
    return {
        "200": {"description": "The image", "headers": headers, "content": {content_type: {}}},
        "304": {"description": "Not modified (If-None-Match)"},
    }


def _ref(model: type[Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=model.__name__)}


def _responses(answer: type[Struct] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(answer, Mapping):
        return dict(answer)
    return {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(answer)}}}}


def _request_body(body: type[Struct] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    return {"required": True, "content": {"application/json": {"schema": _ref(body)}}}


_ACCESS_TEXT = {
    "scanner": "Any API key: scanner, client or admin.",
    "client": "A client or admin API key (a scanner key gets 403).",
    "admin": "An admin API key.",
}


def _operation(route: ApiRoute) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary, "operationId": route.name,
                                 "x-qrpass-access": route.access}  # fmt: skip
    if route.parameters:
        operation["parameters"] = [dict(parameter) for parameter in route.parameters]
    errors = ["503", "504"] if route.access == "public" and route.path.startswith("/v1") else []
    if route.access != "public":
        errors = ["400", "401", "404", "429", "503", "504"]
        errors += ["403"] if route.access != "scanner" else []
        operation["security"] = [{"bearer": []}]
    description = f"{route.description} {_ACCESS_TEXT.get(route.access, '')}".strip()
    if description:
        operation["description"] = description
    if route.body is not None:
        operation["requestBody"] = _request_body(route.body)
        errors.append("413")
    errors += route.errors
    operation["responses"] = _responses(route.answer) | {code: _ERRORS[code] for code in errors}
    return operation


def build_openapi(table: Sequence[ApiRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in table:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
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
