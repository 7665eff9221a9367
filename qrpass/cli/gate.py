"""Gate commands: `checkin` a pass, list `scans` (or who is inside), and `scans prune`."""

from __future__ import annotations

import argparse
from datetime import date

from google.protobuf.timestamp_pb2 import Timestamp

from qrpass.cli.commands import Commands, command
from qrpass.cli.rpc import with_tokens
from qrpass.core.clients import TokenClient
from qrpass.core.times import timestamp
from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.vocabulary import ADMISSION_NAMES, BY_NAME, BY_VALUE, DIRECTION_NAMES

_PAGE_SIZE = 1000
PRUNE_DEADLINE_SECONDS = 300.0


def moment(text: str) -> Timestamp:
    """An argparse type: YYYY-MM-DD (midnight UTC) or an RFC 3339 time with its offset."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return timestamp(f"{day.isoformat()}T00:00:00Z")
    try:
        return timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"DATE must be YYYY-MM-DD or an RFC 3339 time such as 2026-05-01T09:00:00Z, "
            f"got {text!r}"
        ) from None


def _who(kind: int, subject_id: str) -> str:
    named = BY_VALUE.get(kind)
    return f"{named.name} {subject_id}" if named else "(no subject)"


@with_tokens
async def check_in(args: argparse.Namespace, tokens: TokenClient) -> int:
    direction = pb.DIRECTION_OUT if args.out else pb.DIRECTION_IN
    request = pb.CheckInRequest(token=args.token, gate=args.gate, direction=direction)
    reply = await tokens.check_in(request)
    subject = reply.verification.subject
    admission = ADMISSION_NAMES[reply.admission]
    line = f"{admission}: {_who(subject.kind, subject.id)}"
    if reply.admission == pb.ADMISSION_REJECTED:
        reason = pb.FailureReason.Name(reply.verification.failure_reason)
        line += f" ({reason.removeprefix('FAILURE_REASON_').lower()})"
    elif reply.HasField("entered"):
        line += f", entered {reply.entered.at.ToJsonString()} at gate {reply.entered.gate}"
    print(line)
    return 0 if reply.admission in (pb.ADMISSION_ADMITTED, pb.ADMISSION_EXITED) else 1


@with_tokens
async def list_scans(args: argparse.Namespace, tokens: TokenClient) -> int:
    request = pb.ListScansRequest(
        kind=BY_NAME[args.kind].value if args.kind else pb.SUBJECT_KIND_UNSPECIFIED,
        subject_id=args.subject or "",
        gate=args.gate or "",
        inside=args.inside,
        page_size=_PAGE_SIZE,
    )
    if args.since is not None:
        request.since.CopyFrom(args.since)
    while True:
        page = await tokens.list_scans(request)
        for scan in page.scans:
            print(_scan_line(scan, inside=args.inside))
        if not page.next_page_token:
            return 0
        request.page_token = page.next_page_token


def _scan_line(scan: pb.Scan, *, inside: bool) -> str:
    at, who = scan.scanned_at.ToJsonString(), _who(scan.kind, scan.subject_id)
    where = f"gate {scan.gate} scan {scan.scan_id or scan.id}"
    if inside:  # someone inside now, by the entry that counts
        return f"{at} {who} {where}"
    return f"{at} {DIRECTION_NAMES[scan.direction]} {ADMISSION_NAMES[scan.admission]} {who} {where}"


@with_tokens
async def prune(args: argparse.Namespace, tokens: TokenClient) -> int:
    reply = await tokens.prune_scans(args.before, timeout=PRUNE_DEADLINE_SECONDS)
    print(f"deleted {reply.deleted} scan(s) made before {args.before.ToJsonString()}")
    return 0


def add_commands(commands: Commands) -> None:
    """`checkin` and `scans` (with `scans prune`)."""
    checkin = command(commands, "checkin",
                      "check a pass in (or out) at a gate; exit 0 when admitted or exited",
                      func=check_in)  # fmt: skip
    checkin.add_argument("token")
    checkin.add_argument("--gate", required=True, help="the gate's name")
    checkin.add_argument("--out", action="store_true", help="an exit, not an entry")

    scans = command(commands, "scans",
                    "list the scan ledger, one line a scan, or (--inside) who is inside now",
                    func=list_scans)  # fmt: skip
    scans.add_argument("--inside", action="store_true", help="one line a subject inside now")
    scans.add_argument("--kind", choices=tuple(BY_NAME))
    scans.add_argument("--subject", metavar="ID", help="only this subject's scans")
    scans.add_argument("--gate", help="only scans at this gate")
    scans.add_argument("--since", type=moment, metavar="DATE", help="only scans at or after DATE")
    actions = scans.add_subparsers(dest="action", metavar="ACTION")
    pruning = command(actions, "prune",
                      "delete the scans made before DATE (who is inside now is kept)",
                      func=prune)  # fmt: skip
    pruning.add_argument("--before", type=moment, required=True, metavar="DATE")
