"""Every route of the gateway, one row each (gateway.routing.ApiRoute). Adding a route is a row
here and an endpoint function."""

from __future__ import annotations

from gateway import checkins, routes
from gateway.answers import (
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
from gateway.bodies import BatchCheckInRequest, CheckInRequest, InvalidateRequest, VerifyRequest
from gateway.openapi import (
    DATE_TIME_STRING,
    ID,
    IMAGE_QUERY,
    IMPORT_BODY,
    KIND,
    STRING,
    image_answer,
    typed_answer,
)
from gateway.routing import ApiRoute
from qrpass.vocabulary import BY_NAME, MAX_BATCH_SCANS

SCAN_QUERY = (
    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(BY_NAME)}},
    {"name": "subject_id", "in": "query", "schema": STRING},
    {"name": "gate", "in": "query", "schema": STRING},
    {"name": "since", "in": "query", "schema": DATE_TIME_STRING},
    {"name": "inside", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "page_token", "in": "query", "schema": STRING},
)

REVOCATIONS_PAYLOAD = (
    "A compact JWS; its payload is "
    '{"cursor", "full", "revocations": [{"kind", "subject_id", "min_version"}]}'
)

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/healthz", routes.healthz, "public",
             "Liveness of the gateway itself.", Status),
    ApiRoute("GET", "/readyz", routes.readyz, "public",
             "Readiness, with each backend's health in the body.", Ready),
    ApiRoute("GET", "/metrics", routes.metrics, "public",
             "Prometheus metrics.", typed_answer("text/plain", STRING)),
    ApiRoute("GET", "/openapi.json", routes.openapi, "public",
             "This document.", typed_answer("application/json", {"type": "object"})),
    ApiRoute("GET", "/v1/jwks", routes.jwks, "public",
             "Public keys for offline verification (empty with HS256).", Jwks),
    ApiRoute("POST", "/v1/verify", routes.verify, "scanner",
             "Verify a scanned pass; an invalid pass is a 200 with `valid: false`.",
             Verdict, body=VerifyRequest),
    ApiRoute("POST", "/v1/checkins", checkins.check_in, "scanner",
             "Verify a pass at a gate and record the scan: admitted, already_inside (with the "
             "entry that counts), exited, not_inside, or rejected.",
             CheckIn, body=CheckInRequest),
    ApiRoute("POST", "/v1/checkins:batch", checkins.check_in_batch, "scanner",
             f"Upload up to {MAX_BATCH_SCANS} offline scans; applied in scanned_at order, "
             "idempotent per scan_id, answered in the request's order.",
             CheckIns, body=BatchCheckInRequest),
    ApiRoute("GET", "/v1/revocations", checkins.revocations, "scanner",
             "The subjects whose older passes no longer verify, as a compact JWS signed by the "
             "active key (verify it with /v1/jwks). Without `since` the whole list.",
             typed_answer("application/jose", STRING, REVOCATIONS_PAYLOAD),
             parameters=[{"name": "since", "in": "query", "schema": STRING,
                          "description": "The `cursor` of the previous list."}]),
    ApiRoute("GET", "/v1/admin/scans", checkins.list_scans, "admin",
             "The scan ledger, oldest first, or (inside=true) the entries of those inside now.",
             Ledger, parameters=SCAN_QUERY),
    ApiRoute("DELETE", "/v1/admin/scans", checkins.prune_scans, "admin",
             "Delete the scans made before a time; who is inside now is kept.", Deleted,
             parameters=[{"name": "before", "in": "query", "required": True,
                          "schema": DATE_TIME_STRING}]),
    ApiRoute("GET", "/v1/admin/cache/stats", routes.cache_stats, "admin",
             "Image cache statistics.", CacheStats),
    ApiRoute("DELETE", "/v1/admin/cache", routes.cache_clear, "admin",
             "Drop every cached image.", Deleted),
    ApiRoute("POST", "/v1/admin/cache:invalidate", routes.cache_invalidate, "admin",
             "Drop one pass's cached images, the default and every variant.", Deleted,
             body=InvalidateRequest,
             description="A gateway's near-cache may keep serving the default PNG it holds: the "
                         "same bytes a new render makes."),
    ApiRoute("POST", "/v1/admin/import/{kind}", routes.import_subjects, "admin",
             "Import CSV or XLSX, raw or as multipart field `file`; all or nothing.", Imported,
             body=IMPORT_BODY, parameters=[KIND], errors=["415", "422"]),
    ApiRoute("POST", "/v1/admin/{kind}/{id}/qr:rotate", routes.rotate, "admin",
             "Issue a new token; the old one verifies as revoked.", Rotated,
             parameters=[KIND, ID]),
    ApiRoute("DELETE", "/v1/admin/{kind}/{id}", routes.delete_subject, "admin",
             "Delete a subject.", {"204": {"description": "Deleted"}}, parameters=[KIND, ID]),
    ApiRoute("GET", "/v1/{kind}/{id}/qr", routes.pass_json, "client",
             "A subject's pass: token and PNG data URL.", Pass, parameters=[KIND, ID]),
    ApiRoute("GET", "/v1/{kind}/{id}/qr.png", routes.pass_png, "client",
             "A subject's pass as PNG.", image_answer("image/png"),
             parameters=[KIND, ID, *IMAGE_QUERY]),
    ApiRoute("GET", "/v1/{kind}/{id}/qr.svg", routes.pass_svg, "client",
             "A subject's pass as SVG.", image_answer("image/svg+xml"),
             parameters=[KIND, ID, *IMAGE_QUERY]),
)  # fmt: skip
