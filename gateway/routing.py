"""A route is one typed row: where it is, who may call it, what it takes and answers. The router,
the access check, /openapi.json and the tests' auth matrix are all built from the rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from msgspec import Struct
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth import Authenticator
from qrpass.vocabulary import PLURAL_RULE

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ApiRoute:
    """`access` is one of auth.ACCESS_LEVELS: a key of a level may call the routes of its level
    and of the levels below it. `answer` and `body` are Structs for JSON (their schemas come
    from the classes), or OpenAPI `responses` and `requestBody` objects for anything else.
    `errors` are the statuses it may give beyond those its access level and its body bring."""

    method: str
    path: str
    endpoint: Endpoint
    access: str
    summary: str
    answer: type[Struct] | Mapping[str, Any]
    body: type[Struct] | Mapping[str, Any] | None = None
    parameters: Sequence[Mapping[str, Any]] = ()
    errors: Sequence[str] = ()
    description: str = ""

    @property
    def name(self) -> str:
        """The endpoint's name: the operationId."""
        return self.endpoint.__name__


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


def starlette_routes(table: Sequence[ApiRoute]) -> list[Route]:
    """One Route per path, so a 405's Allow header lists every method the path has."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for route in table:
        by_path.setdefault(route.path, {})[route.method] = _guarded(route.endpoint, route.access)
    routes = []
    for path, endpoints in by_path.items():
        if len(endpoints) == 1:
            [(_method, endpoint)] = endpoints.items()
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
