"""The gate's routes: check-in (one scan or an offline batch), the revocation list for offline
scanners, and the scan ledger. Field rules (gate, scan_id, limits) are the token service's; this
module only turns JSON into the RPC's request and back."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from msgspec import UNSET, Struct
from starlette.requests import Request
from starlette.responses import Response

from gateway.answers import (
    CheckIn,
    CheckIns,
    Deleted,
    Entered,
    Ledger,
    LedgerScan,
    verdict_fields,
)
from gateway.bodies import RFC3339_WORDS, BatchCheckInRequest, CheckInRequest, decode
from gateway.context import (
    MAX_TOKEN_BODY,
    backends,
    near_cache,
    only_params,
    read_body,
    request_id,
)
from gateway.errors import ApiError
from gateway.names import FAILURE_NAMES
from gateway.responses import json_response
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
    SCAN_ID_RULE,
)

# A full batch: 1,000 scans of tokens up to 4 KiB each, with their JSON around them.
MAX_BATCH_BODY = MAX_BATCH_SCANS * (MAX_TOKEN_BODY // 2) + MAX_TOKEN_BODY
BATCH_DEADLINE_SECONDS = 60.0
PRUNE_DEADLINE_SECONDS = 60.0
_SCANS_QUERY = {"kind", "subject_id", "gate", "since", "page_size", "page_token", "inside"}


def _timestamp(name: str, value: str) -> Timestamp:
    try:
        return timestamp(value)
    except ValueError:
        raise ApiError(400, f"{name} must be {RFC3339_WORDS}") from None


def _rfc3339(stamp: Timestamp) -> str:
    return stamp.ToJsonString()


def _check_in_request(scan: CheckInRequest, where: str = "") -> token_pb.CheckInRequest:
    """The RPC request for one scan; `where` names the scan in a batch's messages."""
    if scan.scan_id == "":  # the RPC cannot tell it from none, which a retry would count twice
        raise ApiError(400, f"{where}scan_id must match {SCAN_ID_RULE}; leave it out for none")
    request = token_pb.CheckInRequest(
        token=scan.token, gate=scan.gate, direction=DIRECTIONS[scan.direction],
        scan_id=scan.scan_id or "",
    )  # fmt: skip
    if scan.scanned_at is not None:
        request.scanned_at.CopyFrom(_timestamp(f"{where}scanned_at", scan.scanned_at))
    return request


def _check_in(reply: token_pb.CheckInResponse) -> Struct:
    entered = reply.entered if reply.HasField("entered") else None
    return CheckIn(
        **verdict_fields(reply.verification),
        admission=ADMISSION_NAMES[reply.admission],
        entered=Entered(at=_rfc3339(entered.at), gate=entered.gate) if entered else UNSET,
        scan_id=reply.scan_id or None,
        scanned_at=_rfc3339(reply.scanned_at),
    )


async def check_in(request: Request) -> Response:
    body = decode(CheckInRequest, await read_body(request, MAX_TOKEN_BODY))
    scan = _check_in_request(body)
    scan.min_sequence = near_cache(request).sequence
    reply = await backends(request).token.check_in(scan, request_id=request_id(request))
    return json_response(_check_in(reply))


async def check_in_batch(request: Request) -> Response:
    body = decode(BatchCheckInRequest, await read_body(request, MAX_BATCH_BODY))
    batch = token_pb.BatchCheckInRequest(
        scans=[_check_in_request(scan, f"scans[{i}].") for i, scan in enumerate(body.scans)]
    )
    reply = await backends(request).token.batch_check_in(
        batch, timeout=BATCH_DEADLINE_SECONDS, request_id=request_id(request)
    )
    return json_response(CheckIns(results=[_check_in(result) for result in reply.results]))


async def revocations(request: Request) -> Response:
    only_params(request, {"since"})
    since = request.query_params.get("since", "")
    reply = await backends(request).token.revocations(since, request_id=request_id(request))
    # A scanner must see each new revocation; gzip comes from the app's Compression.
    headers = {"Cache-Control": "no-cache"}
    return Response(reply.signed_list.encode(), 200, headers, media_type="application/jose")


def _ledger_scan(scan: token_pb.Scan) -> LedgerScan:
    kind = BY_VALUE.get(scan.kind)
    return LedgerScan(
        id=scan.id,
        kind=kind.name if kind else None,
        subject_id=scan.subject_id or None,
        gate=scan.gate,
        direction=DIRECTION_NAMES[scan.direction],
        scanned_at=_rfc3339(scan.scanned_at),
        scan_id=scan.scan_id or None,
        admission=ADMISSION_NAMES[scan.admission],
        error=FAILURE_NAMES.get(scan.failure_reason),
    )


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
    return json_response(
        Ledger(
            scans=[_ledger_scan(scan) for scan in reply.scans],
            next_page_token=reply.next_page_token,
            inside={BY_VALUE[count.kind].name: count.count for count in reply.inside},
        )
    )


async def prune_scans(request: Request) -> Response:
    unknown = set(request.query_params) - {"before"}
    if unknown or "before" not in request.query_params:
        raise ApiError(400, "give before=<RFC 3339 time>: scans made before it are deleted")
    before = _timestamp("before", request.query_params["before"])
    reply = await backends(request).token.prune_scans(
        before, timeout=PRUNE_DEADLINE_SECONDS, request_id=request_id(request)
    )
    return json_response(Deleted(deleted=reply.deleted))
