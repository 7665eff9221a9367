"""Builds the gateway's ASGI app: the route table with each route's access level, and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import access_log, checkins, routes
from gateway.access_log import AccessLog
from gateway.auth import Authenticator
from gateway.batch import RenderBatcher
from gateway.clients import Backends
from gateway.compression import Compression
from gateway.errors import ApiError, problem, problem_for
from gateway.fill import Filler
from gateway.hotpath import HotPath
from gateway.metrics import HttpMetrics, NearCacheMetrics, route_template
from gateway.nearcache import NearCache
from gateway.openapi import build_openapi
from gateway.settings import GatewaySettings
from gateway.watch import follow_changes
from qrpass.vocabulary import PLURAL_RULE

log = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

# (method, path, endpoint, access): access is one of auth.ACCESS_LEVELS; a key of a level may
# call the routes of its level and of the levels below it.
ROUTE_TABLE: list[tuple[str, str, Endpoint, str]] = [
    ("GET", "/healthz", routes.healthz, "public"),
    ("GET", "/readyz", routes.readyz, "public"),
    ("GET", "/metrics", routes.metrics, "public"),
    ("GET", "/openapi.json", routes.openapi, "public"),
    ("GET", "/v1/jwks", routes.jwks, "public"),
    ("POST", "/v1/verify", routes.verify, "scanner"),
    ("POST", "/v1/checkins", checkins.check_in, "scanner"),
    ("POST", "/v1/checkins:batch", checkins.check_in_batch, "scanner"),
    ("GET", "/v1/revocations", checkins.revocations, "scanner"),
    ("GET", "/v1/admin/scans", checkins.list_scans, "admin"),
    ("DELETE", "/v1/admin/scans", checkins.prune_scans, "admin"),
    ("GET", "/v1/admin/cache/stats", routes.cache_stats, "admin"),
    ("DELETE", "/v1/admin/cache", routes.cache_clear, "admin"),
    ("POST", "/v1/admin/cache:invalidate", routes.cache_invalidate, "admin"),
    ("POST", "/v1/admin/import/{kind}", routes.import_subjects, "admin"),
    ("POST", "/v1/admin/{kind}/{id}/qr:rotate", routes.rotate, "admin"),
    ("DELETE", "/v1/admin/{kind}/{id}", routes.delete_subject, "admin"),
    ("GET", "/v1/{kind}/{id}/qr", routes.pass_json, "client"),
    ("GET", "/v1/{kind}/{id}/qr.png", routes.pass_png, "client"),
    ("GET", "/v1/{kind}/{id}/qr.svg", routes.pass_svg, "client"),
]


class KindConvertor(Convertor[str]):
    """`{kind}` matches only students or stalls, so /v1/admin/cache is never read as a kind
    and a wrong method on a known path is a 405, not a 404."""

    regex = PLURAL_RULE

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("kind", KindConvertor())


def _guarded(endpoint: Endpoint, access: str) -> Endpoint:
    if access == "public":
        return endpoint

    async def guarded(request: Request) -> Response:
        authenticator: Authenticator = request.app.state.authenticator
        address = request.client.host if request.client else ""
        key = authenticator.check(request.headers.get("authorization"), access, address)
        request.scope["state"]["key_id"] = key
        return await endpoint(request)

    guarded.__name__ = endpoint.__name__
    return guarded


def _starlette_routes(table: list[tuple[str, str, Endpoint, str]]) -> list[Route]:
    """One Route per path, so a 405's Allow header lists every method the path has."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, endpoint, access in table:
        by_path.setdefault(path, {})[method] = _guarded(endpoint, access)
    routes = []
    for path, endpoints in by_path.items():
        if len(endpoints) == 1:
            [(method, endpoint)] = endpoints.items()
        else:

            async def endpoint(
                request: Request, endpoints: dict[str, Endpoint] = endpoints
            ) -> Response:
                # Starlette routes HEAD here wherever GET is allowed.
                handler = endpoints.get(request.method) or endpoints["GET"]
                return await handler(request)

            endpoint.__name__ = "_".join(e.__name__ for e in endpoints.values())
        routes.append(
            Route(path.replace("{kind}", "{kind:kind}"), endpoint, methods=list(endpoints))
        )
    return routes


class RequestId:
    """Takes `x-request-id` from the caller (or makes one) and returns it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _api_error(request: Request, error: Exception) -> Response:
    error = cast(ApiError, error)  # Starlette calls this handler for ApiError only
    if error.status >= 500:
        request_id = request.scope.get("state", {}).get("request_id")
        log.warning("%s %s: %s", request.method, route_template(request.scope), error.detail,
                    extra={"request_id": request_id})  # fmt: skip
    return problem_for(error)


async def _http_error(request: Request, error: Exception) -> Response:
    error = cast(HTTPException, error)  # ...and this one for HTTPException
    detail = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
    response = problem(error.status_code, detail.get(error.status_code, str(error.detail)))
    response.headers.update(error.headers or {})
    return response


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error(
        "unhandled error on %s %s", request.method, route_template(request.scope), exc_info=error
    )
    return problem(500, "internal error; the request id names it in the logs")


def create_app(settings: GatewaySettings, registry: CollectorRegistry | None = None) -> ASGIApp:
    registry = registry or CollectorRegistry()
    near_cache = NearCache(settings.near_cache_bytes)
    NearCacheMetrics(near_cache, registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.backends = backends = Backends(settings, registry)
        app.state.batcher = RenderBatcher(backends.image)
        tasks = []
        if near_cache.max_bytes > 0:
            filler = Filler(near_cache, backends.image)
            tasks = [
                asyncio.ensure_future(follow_changes(backends.token, near_cache, filler.wake)),
                asyncio.ensure_future(filler.run()),
            ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await backends.close()

    app = Starlette(
        routes=_starlette_routes(ROUTE_TABLE),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.openapi = build_openapi(ROUTE_TABLE)
    app.state.near_cache = near_cache
    keys = {"scanner": settings.scanner_keys, "client": settings.client_keys,
            "admin": settings.admin_keys}  # fmt: skip
    app.state.authenticator = authenticator = Authenticator(keys, settings.rate_limit_per_minute)
    return HttpMetrics(
        RequestId(HotPath(Compression(app), near_cache, authenticator)),
        registry,
        AccessLog("gateway") if access_log.wanted(settings.log_access) else None,
    )
