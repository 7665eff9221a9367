"""TokenService servicer: translates proto to the pass book and back, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import SQLAlchemyError

from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.token.v1 import token_service_pb2_grpc as pb_grpc
from qrpass.vocabulary import (
    BY_NAME,
    BY_VALUE,
    DIRECTION_NAMES,
    DIRECTIONS,
    KINDS,
    MAX_BATCH_SCANS,
)
from token_service import stream
from token_service.admission import Admission, Entry
from token_service.errors import InvalidRequest
from token_service.gate import CheckInResult, Gate, Scan
from token_service.index import IndexUpdate, SubjectIndex
from token_service.ledger import ScanFilter, ScanRecord
from token_service.metrics import TokenMetrics
from token_service.passes import PassBook, Verdict
from token_service.revocations import RevocationList
from token_service.store import SubjectRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

_FORMATS = {pb.IMPORT_FORMAT_CSV: "csv", pb.IMPORT_FORMAT_XLSX: "xlsx"}
_WATCH_QUEUE = 1000  # updates held for a slow watcher before it is sent one reset instead
# A watch stream speaks at least this often, so a watcher can tell a quiet stream from a dead one.
HEARTBEAT_SECONDS = 0.5


def _kind(value: int) -> str:
    kind = BY_VALUE.get(value)
    if kind is None:
        names = " or ".join(pb.SubjectKind.Name(kind.value) for kind in KINDS)
        raise InvalidRequest(f"kind must be {names}")
    return kind.name


def _subject(record: SubjectRecord) -> pb.Subject:
    return pb.Subject(
        kind=BY_NAME[record.kind].value,
        id=record.id,
        registration_no=record.registration_no,
        stall_number=record.stall_number,
        name=record.name,
        email=record.email,
    )


def _verdict(verdict: Verdict) -> pb.VerifyTokenResponse:
    response = pb.VerifyTokenResponse(
        valid=verdict.valid, kid=verdict.kid, version=verdict.version, legacy=verdict.legacy
    )
    if verdict.failure is not None:
        response.failure_reason = pb.FailureReason.Value(f"FAILURE_REASON_{verdict.failure.name}")
    if verdict.subject is not None:
        response.subject.CopyFrom(_subject(verdict.subject))
    elif verdict.kind:
        response.subject.kind = BY_NAME[verdict.kind].value
        response.subject.id = verdict.subject_id
    return response


def _timestamp(ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def _ms(stamp: Timestamp) -> int:
    return stamp.ToMilliseconds()


def _scan(request: pb.CheckInRequest) -> Scan:
    direction = DIRECTION_NAMES.get(request.direction or pb.DIRECTION_IN)
    if direction is None:
        raise InvalidRequest("direction must be DIRECTION_IN or DIRECTION_OUT")
    return Scan(
        token=request.token,
        gate=request.gate,
        direction=direction,
        scan_id=request.scan_id or None,
        scanned_at_ms=_ms(request.scanned_at) if request.HasField("scanned_at") else None,
    )


def _admission(admission: Admission) -> pb.Admission.ValueType:
    return pb.Admission.Value(f"ADMISSION_{admission.name}")


def _entry(entry: Entry) -> pb.GateEntry:
    return pb.GateEntry(at=_timestamp(entry.at_ms), gate=entry.gate)


def _check_in_response(result: CheckInResult) -> pb.CheckInResponse:
    response = pb.CheckInResponse(
        verification=_verdict(result.verdict),
        admission=_admission(result.admission),
        scan_id=result.scan_id or "",
        scanned_at=_timestamp(result.scanned_at_ms),
        replayed=result.replayed,
    )
    if result.entered is not None:
        response.entered.CopyFrom(_entry(result.entered))
    return response


def _scan_message(record: ScanRecord) -> pb.Scan:
    scan = pb.Scan(
        id=record.id,
        subject_id=record.subject_id or "",
        gate=record.gate,
        direction=DIRECTIONS[record.direction],
        scanned_at=_timestamp(record.scanned_at_ms),
        scan_id=record.scan_id or "",
        admission=_admission(record.admission),
    )
    if record.kind:
        scan.kind = BY_NAME[record.kind].value
    if record.failure:
        scan.failure_reason = pb.FailureReason.Value(f"FAILURE_REASON_{record.failure.upper()}")
    return scan


class TokenServicer(pb_grpc.TokenServiceServicer):
    """Issue and verify answer from memory on the event loop; database work runs in a pool."""

    def __init__(
        self,
        book: PassBook,
        index: SubjectIndex,
        metrics: TokenMetrics,
        executor: ThreadPoolExecutor,
        import_executor: ThreadPoolExecutor,
        gate: Gate,
        revocations: RevocationList,
    ) -> None:
        self._book = book
        self._gate = gate
        self._revocations = revocations
        self._index = index
        self._metrics = metrics
        self._executor = executor
        self._import_executor = import_executor
        self._watches: set[asyncio.Queue[IndexUpdate | None]] = set()

    def end_watches(self) -> None:
        """End every open watch stream (on shutdown), so watchers move to another replica."""
        for queue in self._watches:
            queue.put_nowait(None)

    async def _run(
        self, fn: Callable[..., T], *args: object, pool: ThreadPoolExecutor | None = None
    ) -> T:
        """Blocking work off the event loop, on the serving pool unless `pool` says otherwise."""
        loop = asyncio.get_running_loop()
        # In the caller's context, so the work's spans (SQL) are children of the call's.
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return await loop.run_in_executor(pool or self._executor, call)

    async def _catch_up(self, min_sequence: int) -> None:
        """Apply the change log up to what the caller has seen, if this replica is behind."""
        if min_sequence > self._index.sequence:
            # A database that is down cannot have newer writes either: answer from memory.
            with contextlib.suppress(SQLAlchemyError):
                await self._run(self._index.sync)

    async def IssueToken(
        self, request: pb.IssueTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.IssueTokenResponse:
        kind = _kind(request.kind)
        await self._catch_up(request.min_sequence)
        issued = self._book.issue_cached(kind, request.subject_id)
        if issued is None:  # re-signing writes to the database
            issued = await self._run(self._book.issue, kind, request.subject_id)
        self._metrics.issue.inc()
        return pb.IssueTokenResponse(
            token=issued.token, kid=issued.kid, version=issued.version, sequence=issued.sequence
        )

    async def VerifyToken(
        self, request: pb.VerifyTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.VerifyTokenResponse:
        expected_kind = BY_VALUE.get(request.expected_kind)
        expected = expected_kind.name if expected_kind else None
        await self._catch_up(request.min_sequence)
        verdict = self._book.verify(request.token, expected)
        result = "valid" if verdict.failure is None else verdict.failure.value
        self._metrics.verifications.labels(result).inc()
        return _verdict(verdict)

    async def RotateToken(
        self, request: pb.RotateTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.RotateTokenResponse:
        issued = await self._run(self._book.rotate, _kind(request.kind), request.subject_id)
        self._metrics.issues.labels("rotate").inc()
        return pb.RotateTokenResponse(
            token=issued.token, kid=issued.kid, version=issued.version, sequence=issued.sequence
        )

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListTokensResponse:
        page = await self._run(
            self._book.list, _kind(request.kind), request.page_size, request.page_token
        )
        return pb.ListTokensResponse(
            subject_tokens=[
                pb.SubjectToken(
                    subject=_subject(r), token=r.token or "", kid=r.kid or "", version=r.version
                )
                for r in page.subjects
            ],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def ImportSubjects(
        self, request: pb.ImportSubjectsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ImportSubjectsResponse:
        kind = _kind(request.kind)
        # Imports run on their own threads: a slow file never holds up IssueToken or VerifyToken.
        result = await self._run(
            self._book.import_file,
            kind,
            request.content,
            _FORMATS.get(request.format),
            pool=self._import_executor,
        )
        if result.counts is None:
            self._metrics.import_rows.labels(kind, "rejected").inc(
                len({p.line for p in result.problems})
            )
            return pb.ImportSubjectsResponse(
                errors=[
                    pb.RowError(line=p.line, field=p.field, reason=p.reason)
                    for p in result.problems
                ]
            )
        counts = dataclasses.asdict(result.counts)  # created, updated, unchanged
        for name, count in counts.items():
            self._metrics.import_rows.labels(kind, name).inc(count)
        return pb.ImportSubjectsResponse(**counts, sequence=result.sequence)

    async def DeleteSubject(
        self, request: pb.DeleteSubjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DeleteSubjectResponse:
        sequence = await self._run(self._book.delete, _kind(request.kind), request.subject_id)
        return pb.DeleteSubjectResponse(sequence=sequence)

    async def GetJwks(
        self, request: pb.GetJwksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetJwksResponse:
        keys, active = await self._run(self._book.jwks)
        return pb.GetJwksResponse(keys=[pb.Jwk(**key) for key in keys], active_kid=active)

    async def WatchSubjectChanges(
        self, request: pb.WatchSubjectChangesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchSubjectChangesResponse]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[IndexUpdate | None] = asyncio.Queue()
        keepable = self._book.keepable if request.include_tokens else None

        def offer(update: IndexUpdate) -> None:
            if queue.qsize() >= _WATCH_QUEUE:  # too slow to follow: start it over
                while not queue.empty():
                    queue.get_nowait()
                update = IndexUpdate(update.sequence, (), reset=True, reset_reason="too_slow")
            queue.put_nowait(update)

        def from_any_thread(update: IndexUpdate) -> None:
            loop.call_soon_threadsafe(offer, update)

        unsubscribe = self._index.subscribe(from_any_thread)
        self._watches.add(queue)
        self._metrics.watchers.inc()
        try:
            # Subscribed first, so nothing applied after the opening's position is missed.
            position, opening = await self._opening(request.after_sequence, keepable)
            for message in opening:
                yield message
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:  # a heartbeat says what this stream has delivered
                    yield pb.WatchSubjectChangesResponse(sequence=position)
                    continue
                if update is None:
                    return
                if update.reset:
                    position, messages = await self._reset(update.reset_reason, keepable)
                elif update.sequence > position:  # older ones are in the opening already
                    position = update.sequence
                    messages = stream.changes(position, update.changes, update.records, keepable)
                else:
                    continue
                for message in messages:
                    yield message
        finally:
            unsubscribe()
            self._watches.discard(queue)
            self._metrics.watchers.dec()

    async def _opening(
        self, after: int, keepable: stream.Keepable | None
    ) -> tuple[int, Iterator[pb.WatchSubjectChangesResponse]]:
        """Resume after the watcher's position when the change log holds it, else a reset."""
        if after <= 0:
            return await self._reset("new_watcher", keepable)
        await self._catch_up(after)
        try:
            pairs = await self._run(self._index.changed_since, after, stream.RESUME_LIMIT)
        except SQLAlchemyError as error:  # the class only: driver messages quote SQL
            log.warning("change log unreadable, watcher starts over: %s", type(error).__name__)
            pairs = None
        if pairs is None or after > self._index.sequence:
            return await self._reset("position_unknown", keepable)
        position, records = await self._run(self._index.current, pairs)
        return position, stream.changes(position, pairs, records, keepable)

    async def _reset(
        self, reason: str, keepable: stream.Keepable | None
    ) -> tuple[int, Iterator[pb.WatchSubjectChangesResponse]]:
        if keepable is None:
            return self._index.sequence, stream.reset(self._index.sequence, reason, None, None)
        position, records = await self._run(self._index.snapshot)
        return position, stream.reset(position, reason, records, keepable)

    async def CheckIn(
        self, request: pb.CheckInRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CheckInResponse:
        scan = _scan(request)
        await self._catch_up(request.min_sequence)
        result = await self._run(self._gate.check_in, scan)
        self._count_check_in(result)
        return _check_in_response(result)

    async def BatchCheckIn(
        self, request: pb.BatchCheckInRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.BatchCheckInResponse:
        if len(request.scans) > MAX_BATCH_SCANS:
            raise InvalidRequest(f"a batch holds at most {MAX_BATCH_SCANS} scans")
        scans = [_scan(scan) for scan in request.scans]
        results = await self._run(self._gate.check_in_batch, scans)
        for result in results:
            self._count_check_in(result)
        return pb.BatchCheckInResponse(results=[_check_in_response(r) for r in results])

    def _count_check_in(self, result: CheckInResult) -> None:
        if not result.replayed:
            self._metrics.checkins.labels(result.admission.value).inc()
            outcome = "valid" if result.verdict.failure is None else result.verdict.failure.value
            self._metrics.verifications.labels(outcome).inc()

    async def ListScans(
        self, request: pb.ListScansRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListScansResponse:
        where = ScanFilter(
            kind=_kind(request.kind) if request.kind else None,
            subject_id=request.subject_id or None,
            gate=request.gate or None,
            since_ms=_ms(request.since) if request.HasField("since") else None,
        )
        listing = functools.partial(self._gate.scans, inside=request.inside)
        page = await self._run(listing, where, request.page_size, request.page_token)
        counts = await self._run(self._gate.inside_counts)
        return pb.ListScansResponse(
            scans=[_scan_message(record) for record in page.scans],
            next_page_token=page.next_page_token,
            inside=[
                pb.InsideCount(kind=kind.value, count=counts.get(kind.name, 0))
                for kind in BY_NAME.values()
            ],
        )

    async def PruneScans(
        self, request: pb.PruneScansRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PruneScansResponse:
        if not request.HasField("before"):
            raise InvalidRequest("before is required: the time before which scans are deleted")
        deleted = await self._run(self._gate.prune, _ms(request.before))
        return pb.PruneScansResponse(deleted=deleted)

    async def ListRevocations(
        self, request: pb.ListRevocationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListRevocationsResponse:
        signed = await self._run(self._revocations.signed, request.since)
        return pb.ListRevocationsResponse(
            signed_list=signed.jws, cursor=signed.cursor, full=signed.full, count=signed.count
        )
