"""TokenService servicer: translates proto to the pass book and back, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import grpc
from sqlalchemy.exc import SQLAlchemyError

from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.token.v1 import token_service_pb2_grpc as pb_grpc
from token_service.errors import InvalidRequest
from token_service.index import IndexUpdate, SubjectIndex
from token_service.metrics import TokenMetrics
from token_service.passes import PassBook, Verdict
from token_service.store import SubjectRecord

T = TypeVar("T")

_KIND_NAMES = {pb.SUBJECT_KIND_STUDENT: "student", pb.SUBJECT_KIND_STALL: "stall"}
_KIND_VALUES = {name: value for value, name in _KIND_NAMES.items()}
_FORMATS = {pb.IMPORT_FORMAT_CSV: "csv", pb.IMPORT_FORMAT_XLSX: "xlsx"}
_WATCH_QUEUE = 1000  # updates held for a slow watcher before it is sent one reset instead
# A watch stream speaks at least this often, so a watcher can tell a quiet stream from a dead one.
HEARTBEAT_SECONDS = 0.5


def _kind(value: int) -> str:
    name = _KIND_NAMES.get(value)
    if name is None:
        raise InvalidRequest("kind must be SUBJECT_KIND_STUDENT or SUBJECT_KIND_STALL")
    return name


def _subject(record: SubjectRecord) -> pb.Subject:
    return pb.Subject(
        kind=_KIND_VALUES[record.kind],
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
        response.subject.kind = _KIND_VALUES[verdict.kind]
        response.subject.id = verdict.subject_id
    return response


def _change_message(update: IndexUpdate) -> pb.WatchSubjectChangesResponse:
    return pb.WatchSubjectChangesResponse(
        sequence=update.sequence,
        subjects=[pb.Subject(kind=_KIND_VALUES[kind], id=sid) for kind, sid in update.changes],
        reset=update.reset,
    )


class TokenServicer(pb_grpc.TokenServiceServicer):
    """Issue and verify answer from memory on the event loop; database work runs in a pool."""

    def __init__(
        self,
        book: PassBook,
        index: SubjectIndex,
        metrics: TokenMetrics,
        executor: ThreadPoolExecutor,
        import_executor: ThreadPoolExecutor,
    ) -> None:
        self._book = book
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
        return await loop.run_in_executor(pool or self._executor, fn, *args)

    async def _catch_up(self, min_sequence: int) -> None:
        """Apply the change log up to what the caller has seen, if this replica is behind."""
        if min_sequence > self._index.sequence:
            # A database that is down cannot have newer writes either: answer from memory.
            with contextlib.suppress(SQLAlchemyError):
                await self._run(self._index.sync)

    async def IssueToken(
        self, request: pb.IssueTokenRequest, context: grpc.aio.ServicerContext
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
        self, request: pb.VerifyTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyTokenResponse:
        expected = _KIND_NAMES.get(request.expected_kind)
        await self._catch_up(request.min_sequence)
        verdict = self._book.verify(request.token, expected)
        result = "valid" if verdict.failure is None else verdict.failure.value
        self._metrics.verifications.labels(result).inc()
        return _verdict(verdict)

    async def RotateToken(
        self, request: pb.RotateTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateTokenResponse:
        issued = await self._run(self._book.rotate, _kind(request.kind), request.subject_id)
        self._metrics.issues.labels("rotate").inc()
        return pb.RotateTokenResponse(
            token=issued.token, kid=issued.kid, version=issued.version, sequence=issued.sequence
        )

    async def ListTokens(
        self, request: pb.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTokensResponse:
        page = await self._run(
            self._book.list, _kind(request.kind), request.page_size, request.page_token
        )
        return pb.ListTokensResponse(
            subject_tokens=[
                pb.SubjectToken(subject=_subject(r), token=r.token, kid=r.kid, version=r.version)
                for r in page.subjects
            ],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def ImportSubjects(
        self, request: pb.ImportSubjectsRequest, context: grpc.aio.ServicerContext
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
        counts = result.counts
        for name in ("created", "updated", "unchanged"):
            self._metrics.import_rows.labels(kind, name).inc(getattr(counts, name))
        return pb.ImportSubjectsResponse(
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            sequence=result.sequence,
        )

    async def DeleteSubject(
        self, request: pb.DeleteSubjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSubjectResponse:
        sequence = await self._run(self._book.delete, _kind(request.kind), request.subject_id)
        return pb.DeleteSubjectResponse(sequence=sequence)

    async def GetJwks(
        self, request: pb.GetJwksRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetJwksResponse:
        keys, active = await self._run(self._book.jwks)
        return pb.GetJwksResponse(keys=[pb.Jwk(**key) for key in keys], active_kid=active)

    async def WatchSubjectChanges(
        self, request: pb.WatchSubjectChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSubjectChangesResponse]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[IndexUpdate | None] = asyncio.Queue()

        def offer(update: IndexUpdate) -> None:
            if queue.qsize() >= _WATCH_QUEUE:  # too slow to follow: start it over
                while not queue.empty():
                    queue.get_nowait()
                update = IndexUpdate(update.sequence, (), reset=True)
            queue.put_nowait(update)

        unsubscribe = self._index.subscribe(lambda u: loop.call_soon_threadsafe(offer, u))
        self._watches.add(queue)
        self._metrics.watchers.inc()
        try:
            yield pb.WatchSubjectChangesResponse(sequence=self._index.sequence, reset=True)
            while True:
                try:
                    update = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield pb.WatchSubjectChangesResponse(sequence=self._index.sequence)
                    continue
                if update is None:
                    return
                yield _change_message(update)
        finally:
            unsubscribe()
            self._watches.discard(queue)
            self._metrics.watchers.dec()
