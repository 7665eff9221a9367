"""The hot path: a cached pass answered before routing, in a few microseconds.

Only a GET of a pass (JSON or default PNG) whose subject is in the near-cache, with a key that
passes, comes through here; everything else (a miss, a bad key, query parameters) falls through
to the routes, which answer it and fill the cache. Both build responses with the same helpers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import Authenticator
from gateway.compression import accepts_gzip
from gateway.errors import ApiError, problem_for
from gateway.nearcache import Entry, NearCache
from gateway.responses import IMAGE_MAX_AGE_SECONDS, JSON_HEADERS, etag_matches, image_headers
from gateway.traces import EdgeSampler
from qrpass.core.logs import trace_id_hex
from qrpass.vocabulary import ID_RULE, PLURAL_RULE

_PASS_PATH = re.compile(rf"/v1/({PLURAL_RULE})/({ID_RULE})/qr(\.png)?")
# What Compression adds to a route's JSON pass, which the hot path answers itself.
VARY_HEADER = (b"vary", b"Accept-Encoding")
GZIP_HEADER = (b"content-encoding", b"gzip")


@dataclass(frozen=True)
class _Template:
    """What HttpMetrics reads from scope["route"]: the route template, never the raw path."""

    path_format: str


_JSON_ROUTE = _Template("/v1/{kind}/{id}/qr")
_PNG_ROUTE = _Template("/v1/{kind}/{id}/qr.png")


class HotPath:
    """Pure ASGI in front of the router."""

    def __init__(
        self, app: ASGIApp, cache: NearCache, authenticator: Authenticator,
        edge: EdgeSampler | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self._cache = cache
        self._authenticator = authenticator
        self._edge = edge  # traces on: a traced request goes the routed way, spans and all

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        match = _PASS_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        entry = self._cache.get(match[1], match[2], count=False)
        if entry is None:
            await self.app(scope, receive, send)  # the route fetches, counts and caches it
            return
        authorization = if_none_match = accept_encoding = traceparent = tracestate = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
        answer = (match, entry, authorization, if_none_match, accept_encoding)
        if self._edge is None or not self._edge.traced(traceparent):
            await self._answer(scope, receive, send, *answer)
            return
        template = (_JSON_ROUTE if match[3] is None else _PNG_ROUTE).path_format
        with self._edge.server_span(template, traceparent, tracestate) as span:
            status = await self._answer(scope, receive, send, *answer)
            span.set_attribute("http.response.status_code", status)
            scope["state"]["trace_id"] = trace_id_hex(span.get_span_context())

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, match: re.Match[str], entry: Entry,
        authorization: str | None, if_none_match: str | None, accept_encoding: str | None,
    ) -> int:  # fmt: skip
        """Answers the hit (or refuses its key); the status sent."""
        try:
            client = scope.get("client")
            key = self._authenticator.check(authorization, "client", client[0] if client else "")
        except ApiError as error:
            scope["route"] = _JSON_ROUTE if match[3] is None else _PNG_ROUTE
            await problem_for(error)(scope, receive, send)
            return error.status
        scope["state"]["key_id"] = key
        self._cache.hits += 1
        if match[3] is None:
            scope["route"] = _JSON_ROUTE
            status, headers, body = 200, [*JSON_HEADERS, VARY_HEADER], entry.json_body
            if accepts_gzip(accept_encoding):
                headers.append(GZIP_HEADER)
                body = entry.json_gzip
        else:
            scope["route"] = _PNG_ROUTE
            headers = image_headers("image/png", entry.etag, IMAGE_MAX_AGE_SECONDS)
            if etag_matches(if_none_match, entry.etag):
                status, body = 304, b""
            else:
                status, body = 200, entry.png
        if status == 200:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status
