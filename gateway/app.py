"""Builds the gateway's ASGI app: the routes of gateway/route_table.py behind the middleware."""

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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import access_log, traces
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
from gateway.route_table import ROUTES
from gateway.routing import starlette_routes
from gateway.settings import GatewaySettings
from gateway.watch import follow_changes
from qrpass.core import tracing

log = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


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
            # Here, not after uvicorn.run: uvicorn ends the process by re-raising SIGTERM.
            tracing.stop()

    app = Starlette(
        routes=starlette_routes(ROUTES),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.openapi = build_openapi(ROUTES)
    app.state.near_cache = near_cache
    keys = {"scanner": settings.scanner_keys, "client": settings.client_keys,
            "admin": settings.admin_keys}  # fmt: skip
    app.state.authenticator = authenticator = Authenticator(keys, settings.rate_limit_per_minute)
    provider = tracing.provider()
    if provider is not None:
        traces.instrument(app, provider)
    edge = None if provider is None else traces.EdgeSampler(provider)
    return HttpMetrics(
        RequestId(HotPath(Compression(app), near_cache, authenticator, edge)),
        registry,
        AccessLog("gateway") if access_log.wanted(settings.log_access) else None,
    )
