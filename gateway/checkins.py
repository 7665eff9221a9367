"""The gate's routes: check-in (one scan or an offline batch), the revocation list for offline
scanners, and the scan ledger. Field rules (gate, scan_id, limits) are the token service's; this
module only turns JSON into the RPC's request and back."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError
from gateway.routes import (
    MAX_VERIFY_BODY,
    backends,
    failure_name,
    json_object,
    near_cache,
    only_params,
    request_id,
    verdict_fields,
)
from qrpass.core.config import is_ascii_number
from qrpass.core.times import timestamp
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import (
    ADMISSION_NAMES,
    BY_NAME,
    BY_VALUE,
    DIRECTION_NAMES,
    DIRECTIONS,
    MAX_BATCH_SCANS,
)

# A full batch: 1,000 scans of tokens up to 4 KiB each, with their JSON around them.
MAX_BATCH_BODY = MAX_BATCH_SCANS * (MAX_VERIFY_BODY // 2) + MAX_VERIFY_BODY
BATCH_DEADLINE_SECONDS = 60.0
PRUNE_DEADLINE_SECONDS = 60.0
_SCAN_FIELDS = {"token", "gate", "direction", "scan_id", "scanned_at"}
_SCANS_QUERY = {"kind", "subject_id", "gate", "since", "page_size", "page_token", "inside"}


def _timestamp(name: str, value: object) -> Timestamp:
    try:
        if not isinstance(value, str):
            raise ValueError
        return timestamp(value)
    except ValueError:
        raise ApiError(
            400, f"{name} must be an RFC 3339 time with its offset, e.g. 2026-05-01T09:02:00Z"
        ) from None


def _rfc3339(stamp: Timestamp) -> str:
    return stamp.ToJsonString()


def _string(data: dict[str, Any], name: str, where: str, *, required: bool) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        need = "a non-empty string" if required else "a string"
        raise ApiError(400, f"{where}{name} must be {need}")
    return value


def _check_in_request(data: object, where: str = "") -> token_pb.CheckInRequest:
    """The RPC request for one scan's JSON; `where` names the scan in a batch's messages."""
    if not isinstance(data, dict):
        raise ApiError(400, f"{where or 'the body'} must be a JSON object")
    unknown = set(data) - _SCAN_FIELDS
    if unknown:
        raise ApiError(400, f"{where}unknown field {sorted(unknown)[0]!r}; use "
                       + ", ".join(sorted(_SCAN_FIELDS)))  # fmt: skip
    direction = data.get("direction", "in")
    if direction not in DIRECTIONS:
        raise ApiError(400, f"{where}direction must be 'in' or 'out'")
    request = token_pb.CheckInRequest(
        token=_string(data, "token", where, required=True),
        gate=_string(data, "gate", where, required=True),
        direction=DIRECTIONS[direction],
        scan_id=_string(data, "scan_id", where, required=False),
    )
    if data.get("scanned_at") is not None:
        request.scanned_at.CopyFrom(_timestamp(f"{where}scanned_at", data["scanned_at"]))
    return request


def _check_in_fields(reply: token_pb.CheckInResponse) -> dict[str, object]:
    body = verdict_fields(reply.verification)
    body["admission"] = ADMISSION_NAMES[reply.admission]
    if reply.HasField("entered"):
        body["entered"] = {"at": _rfc3339(reply.entered.at), "gate": reply.entered.gate}
    body["scan_id"] = reply.scan_id or None
    body["scanned_at"] = _rfc3339(reply.scanned_at)
    return body


async def check_in(request: Request) -> Response:
    scan = _check_in_request(await json_object(request, MAX_VERIFY_BODY))
    scan.min_sequence = near_cache(request).sequence
    reply = await backends(request).token.check_in(scan, request_id=request_id(request))
    return JSONResponse(_check_in_fields(reply))


async def check_in_batch(request: Request) -> Response:
    data = await json_object(request, MAX_BATCH_BODY)
    scans = data.get("scans")
    if not isinstance(scans, list) or set(data) != {"scans"}:
        raise ApiError(400, 'the body must be {"scans": [...]}')
    if len(scans) > MAX_BATCH_SCANS:
        raise ApiError(400, f"a batch holds at most {MAX_BATCH_SCANS} scans, got {len(scans)}")
    batch = token_pb.BatchCheckInRequest(
        scans=[_check_in_request(scan, f"scans[{i}].") for i, scan in enumerate(scans)]
    )
    reply = await backends(request).token.batch_check_in(
        batch, timeout=BATCH_DEADLINE_SECONDS, request_id=request_id(request)
    )
    return JSONResponse({"results": [_check_in_fields(result) for result in reply.results]})


async def revocations(request: Request) -> Response:
    only_params(request, {"since"})
    since = request.query_params.get("since", "")
    reply = await backends(request).token.revocations(since, request_id=request_id(request))
    # A scanner must see each new revocation; gzip comes from the app's Compression.
    headers = {"Cache-Control": "no-cache"}
    return Response(reply.signed_list.encode(), 200, headers, media_type="application/jose")


def _scan_fields(scan: token_pb.Scan) -> dict[str, object]:
    kind = BY_VALUE.get(scan.kind)
    return {
        "id": scan.id,
        "kind": kind.name if kind else None,
        "subject_id": scan.subject_id or None,
        "gate": scan.gate,
        "direction": DIRECTION_NAMES[scan.direction],
        "scanned_at": _rfc3339(scan.scanned_at),
        "scan_id": scan.scan_id or None,
        "admission": ADMISSION_NAMES[scan.admission],
        "error": failure_name(scan.failure_reason) if scan.failure_reason else None,
    }


async def list_scans(request: Request) -> Response:
    query = request.query_params
    only_params(request, _SCANS_QUERY)
    listing = token_pb.ListScansRequest(
        subject_id=query.get("subject_id", ""),
        gate=query.get("gate", ""),
        page_token=query.get("page_token", ""),
    )
    if "kind" in query:
        kind = BY_NAME.get(query["kind"])
        if kind is None:
            raise ApiError(400, f"kind must be {' or '.join(BY_NAME)}")
        listing.kind = kind.value
    if "since" in query:
        listing.since.CopyFrom(_timestamp("since", query["since"]))
    if "page_size" in query:
        if not is_ascii_number(query["page_size"]):
            raise ApiError(400, "page_size must be a whole number")
        listing.page_size = min(int(query["page_size"]), 1_000_000)
    if query.get("inside", "false") not in ("true", "false"):
        raise ApiError(400, "inside must be true or false")
    listing.inside = query.get("inside") == "true"
    reply = await backends(request).token.list_scans(listing, request_id=request_id(request))
    return JSONResponse(
        {
            "scans": [_scan_fields(scan) for scan in reply.scans],
            "next_page_token": reply.next_page_token,
            "inside": {BY_VALUE[count.kind].name: count.count for count in reply.inside},
        }
    )


async def prune_scans(request: Request) -> Response:
    unknown = set(request.query_params) - {"before"}
    if unknown or "before" not in request.query_params:
        raise ApiError(400, "give before=<RFC 3339 time>: scans made before it are deleted")
    before = _timestamp("before", request.query_params["before"])
    reply = await backends(request).token.prune_scans(
        before, timeout=PRUNE_DEADLINE_SECONDS, request_id=request_id(request)
    )
    return JSONResponse({"deleted": reply.deleted})
