"""HTTP errors as application/problem+json (RFC 9457), and the gRPC-to-HTTP status table.

ApiError                   an HTTP error with a title and a detail that says what to fix
├── raised by routes       bad ids, bad parameters, bodies too large, unknown routes
└── from_rpc_error()       a gRPC failure, mapped by google/rpc/code.proto as grpc-gateway does
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
import msgspec
from msgspec import UNSET
from starlette.responses import Response

from gateway.answers import Problem, RowProblem
from qrpass.core.grpc_errors import SERVICE_MESSAGE_KEY

# google/rpc/code.proto's HTTP mapping, as grpc-gateway v2 applies it.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error answered as problem+json; `errors` lists an import's faulty rows."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[RowProblem] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors


def from_rpc_error(
    error: grpc.aio.AioRpcError, backend: str, code: grpc.StatusCode | None = None
) -> ApiError:
    code = code or error.code()
    status = HTTP_STATUS.get(code, 500)
    from_service = any(key == SERVICE_MESSAGE_KEY for key, _ in error.trailing_metadata() or ())
    if code == grpc.StatusCode.UNAVAILABLE and from_service:
        detail = error.details() or f"the {backend} is unavailable; retry shortly"
    elif code == grpc.StatusCode.UNAVAILABLE:
        detail = f"the {backend} is unavailable; retry shortly"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        detail = f"the {backend} did not answer in time; retry shortly"
    elif status == 500:
        detail = "internal error"  # never forward a backend's internals
    else:
        detail = error.details() or TITLES.get(status, "error")
    return ApiError(status, detail)


def problem_body(status: int, detail: str, errors: list[RowProblem] | None = None) -> bytes:
    title = TITLES.get(status, "Error")
    return msgspec.json.encode(Problem(
        type=f"https://qrpass.dev/problems/{title.lower().replace(' ', '-')}",
        title=title, status=status, detail=detail, errors=UNSET if errors is None else errors,
    ))  # fmt: skip


def problem(status: int, detail: str, errors: list[RowProblem] | None = None) -> Response:
    body = problem_body(status, detail, errors)
    return Response(body, status, media_type="application/problem+json")


def problem_for(error: ApiError) -> Response:
    response = problem(error.status, error.detail, error.errors)
    response.headers.update(error.headers)
    return response
