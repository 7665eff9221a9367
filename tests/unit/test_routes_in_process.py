"""The gateway's HTTP layer in-process: `create_app` served through httpx's ASGITransport, its
back ends pointed at a port nothing listens on. Every route's access check and its OpenAPI entry
hold without a single server (tests/e2e/test_gateway.py checks the same against the real stack)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

from gateway.app import create_app
from gateway.settings import GatewaySettings
from qrpass.core.config import Env
from tests.support.route_contract import assert_access, assert_documented, auth_cases
from tests.support.servers import free_port
from tests.support.services import ADMIN_KEY, CLIENT_KEY, SCANNER_KEY


def _settings() -> GatewaySettings:
    nowhere = f"127.0.0.1:{free_port()}"  # bound once, then closed: calls there are refused
    return GatewaySettings.from_env(Env({
        "QRPASS_ENV": "development", "QRPASS_API_KEYS": CLIENT_KEY,
        "QRPASS_ADMIN_API_KEYS": ADMIN_KEY, "QRPASS_SCANNER_API_KEYS": SCANNER_KEY,
        "TOKEN_SERVICE_ADDR": nowhere, "IMAGE_SERVICE_ADDR": nowhere,
        "QRPASS_ACCESS_LOG": "off",
    }))  # fmt: skip


@contextlib.asynccontextmanager
async def _serving(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Runs the app's lifespan (its back-end channels) around a client, as uvicorn would."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await lifespan


def test_every_route_admits_exactly_the_keys_of_its_level() -> None:
    async def check() -> int:
        async with _serving(create_app(_settings())) as client:
            checked = 0
            for case in auth_cases():
                reply = await client.request(case.method, case.path, headers=case.headers,
                                             content=b"{}")  # fmt: skip
                assert_access(case, reply)
                assert reply.status_code < 500 or reply.status_code in (503, 504), reply.text
                checked += 1
            return checked

    assert asyncio.run(check()) >= 14 * 5


def test_openapi_json_documents_every_route_from_its_row() -> None:
    async def fetch() -> dict[str, Any]:
        async with _serving(create_app(_settings())) as client:
            reply = await client.get("/openapi.json")
            assert reply.status_code == 200
            document: dict[str, Any] = reply.json()
            return document

    document = asyncio.run(fetch())
    assert document["openapi"] == "3.1.0"
    assert_documented(document)
