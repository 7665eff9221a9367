"""The scan ledger: every scan at a gate, and who is inside now (SQLAlchemy, one writer: us).

A scan of a valid pass locks its holder's presence row (an `INSERT ... ON CONFLICT DO UPDATE
... RETURNING` upsert, which on PostgreSQL takes the row lock and creates a missing row in the
same trip; SQLite has one writer at a time anyway), so two gates scanning one pass at the same
instant are decided one after the other: exactly one is admitted. Scans keep no personal data
beyond the subject id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, QueryableAttribute, Session, mapped_column
from sqlalchemy.sql import Select

from token_service.admission import Admission, Decision, Entry
from token_service.store import Base

_Row = TypeVar("_Row")


class ScanRow(Base):
    """One scan: subject id, gate, direction, time, the client's scan id and the result."""

    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    gate: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))
    scanned_at: Mapped[int] = mapped_column(BigInteger)  # epoch milliseconds
    recorded_at: Mapped[int] = mapped_column(BigInteger)
    scan_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    admission: Mapped[str] = mapped_column(String(16))
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The entry that counted when this scan was answered, so a replay gives the same answer.
    entry_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    entry_gate: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PresenceRow(Base):
    """Whether a subject is inside now, with the entry that counts."""

    __tablename__ = "presence"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    inside: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    entered_gate: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_scan: Mapped[int | None] = mapped_column(Integer, nullable=True)  # scans.id
    entry_scan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


@dataclass(frozen=True)
class ScanInput:
    """A scan as the gate reports it, with the verdict on its pass."""

    gate: str
    direction: str  # "in" or "out"
    scanned_at_ms: int
    scan_id: str | None
    kind: str | None  # the subject the pass names, when it names one
    subject_id: str | None
    version: int
    failure: str | None  # None: the pass is valid


@dataclass(frozen=True)
class ScanRecord:
    """A row of the ledger, as answered."""

    id: int
    kind: str | None
    subject_id: str | None
    version: int
    gate: str
    direction: str
    scanned_at_ms: int
    scan_id: str | None
    admission: Admission
    failure: str | None
    entered: Entry | None  # the entry that counts after this scan, if the holder is inside


@dataclass(frozen=True)
class ScanFilter:
    kind: str | None = None
    subject_id: str | None = None
    gate: str | None = None
    since_ms: int | None = None

    def applied(
        self,
        query: Select[_Row],
        kind: QueryableAttribute[Any],
        subject_id: QueryableAttribute[Any],
        gate: QueryableAttribute[Any],
        since: QueryableAttribute[Any],
    ) -> Select[_Row]:
        """`query` narrowed by each filter given, on the table's own columns for them."""
        for column, value in ((kind, self.kind), (subject_id, self.subject_id), (gate, self.gate)):
            if value:
                query = query.where(column == value)
        if self.since_ms is not None:
            query = query.where(since >= self.since_ms)
        return query


def _record(row: ScanRow) -> ScanRecord:
    entered = None
    if row.entry_at is not None and row.entry_gate is not None:
        entered = Entry(row.entry_at, row.entry_gate)
    return ScanRecord(
        id=row.id, kind=row.kind, subject_id=row.subject_id, version=row.version, gate=row.gate,
        direction=row.direction, scanned_at_ms=row.scanned_at, scan_id=row.scan_id,
        admission=Admission(row.admission), failure=row.failure, entered=entered,
    )  # fmt: skip


def _presence_record(row: PresenceRow) -> ScanRecord:
    """Someone inside, shown as the scan that let them in."""
    return ScanRecord(
        id=row.entry_scan or 0, kind=row.kind, subject_id=row.subject_id, version=0,
        gate=row.entered_gate or "", direction="in", scanned_at_ms=row.entered_at or 0,
        scan_id=row.entry_scan_id, admission=Admission.ADMITTED, failure=None,
        entered=Entry(row.entered_at or 0, row.entered_gate or ""),
    )  # fmt: skip


Decide = Callable[[Entry | None], Decision]


class ScanLedger:
    """Records scans and answers who is inside; every method is one short transaction."""

    def __init__(self, engine: Engine, clock_ms: Callable[[], int]) -> None:
        self._engine = engine
        self._clock_ms = clock_ms
        self._postgres = engine.dialect.name == "postgresql"
        insert = postgresql.insert if self._postgres else sqlite.insert
        scans, presence = cast(Table, ScanRow.__table__), cast(Table, PresenceRow.__table__)
        # Built once: building and keying a statement costs more than running it (measured).
        # A repeated scan_id inserts nothing and returns no row: the unique index decides, even
        # against a concurrent repeat.
        self._insert_scan = insert(scans).on_conflict_do_nothing().returning(scans.c.id)
        # An upsert that changes nothing still takes the row lock (on PostgreSQL as SELECT ...
        # FOR UPDATE would) and hands the row back: lock, create-if-missing and read in one trip.
        lock = insert(presence).values(
            kind=bindparam("kind"), subject_id=bindparam("subject_id"), inside=False
        )
        self._lock_presence = lock.on_conflict_do_update(
            index_elements=[presence.c.kind, presence.c.subject_id],
            set_={"kind": lock.excluded.kind},
        ).returning(presence.c.inside, presence.c.entered_at, presence.c.entered_gate)
        this_subject = (presence.c.kind == bindparam("k")) & (
            presence.c.subject_id == bindparam("s")
        )
        self._enter = update(presence).where(this_subject).values(
            inside=True, entered_at=bindparam("at"), entered_gate=bindparam("gate"),
            entry_scan=bindparam("row"), entry_scan_id=bindparam("scan_id"),
        )  # fmt: skip
        self._leave = update(presence).where(this_subject).values(inside=False)
        # SQLite allows one writer: take turns here rather than fail with "database is locked".
        self._sqlite_writer = threading.Lock()
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    def _writing(self) -> AbstractContextManager[object]:
        return nullcontext() if self._postgres else self._sqlite_writer

    def find(self, scan_id: str) -> ScanRecord | None:
        with Session(self._reader) as session:
            row = session.scalars(select(ScanRow).where(ScanRow.scan_id == scan_id)).first()
            return _record(row) if row is not None else None

    def record(self, scan: ScanInput, decide: Decide) -> tuple[ScanRecord, bool]:
        """Decide the scan against the holder's presence and record it; (record, replayed).

        A scan_id seen before returns the first answer and records nothing. Core statements,
        four round trips: lock-and-read presence, insert the scan, update presence, commit.
        """
        with self._writing(), self._engine.begin() as connection:
            recorded = self._record_in(connection, scan, decide)
            if recorded is None:  # the scan_id was taken: undo, and answer as the first did
                connection.rollback()
        if recorded is not None:
            return recorded, False
        first = self.find(scan.scan_id or "")
        if first is None:  # deleted by a prune in between: nothing to replay
            raise IntegrityError("scan_id", None, Exception("scan_id already used"))
        return first, True

    def _record_in(
        self, connection: Connection, scan: ScanInput, decide: Decide
    ) -> ScanRecord | None:
        inside = None
        subject = {"k": scan.kind, "s": scan.subject_id}
        locked = scan.failure is None and scan.kind is not None and scan.subject_id is not None
        if locked:
            lock = {"kind": scan.kind, "subject_id": scan.subject_id}
            presence = connection.execute(self._lock_presence, lock).one()
            if presence.inside:
                inside = Entry(presence.entered_at or 0, presence.entered_gate or "")
        decision = decide(inside)
        after = decision.inside
        row_id = connection.scalar(self._insert_scan, {
            "kind": scan.kind, "subject_id": scan.subject_id, "version": scan.version,
            "gate": scan.gate, "direction": scan.direction, "scanned_at": scan.scanned_at_ms,
            "recorded_at": self._clock_ms(), "scan_id": scan.scan_id,
            "admission": decision.admission.value, "failure": scan.failure,
            "entry_at": after.at_ms if after else None, "entry_gate": after.gate if after else None,
        })  # fmt: skip
        if row_id is None:
            return None
        if locked and decision.admission is Admission.ADMITTED:
            entry = {"at": scan.scanned_at_ms, "gate": scan.gate, "row": row_id,
                     "scan_id": scan.scan_id}  # fmt: skip
            connection.execute(self._enter, subject | entry)
        elif locked and decision.admission is Admission.EXITED:
            connection.execute(self._leave, subject)
        return ScanRecord(
            id=row_id, kind=scan.kind, subject_id=scan.subject_id, version=scan.version,
            gate=scan.gate, direction=scan.direction, scanned_at_ms=scan.scanned_at_ms,
            scan_id=scan.scan_id, admission=decision.admission, failure=scan.failure,
            entered=after,
        )  # fmt: skip

    def page(self, where: ScanFilter, after_id: int, limit: int) -> list[ScanRecord]:
        """Up to `limit` scans recorded after `after_id`, oldest first."""
        query = where.applied(
            select(ScanRow).where(ScanRow.id > after_id),
            ScanRow.kind, ScanRow.subject_id, ScanRow.gate, ScanRow.scanned_at,
        )  # fmt: skip
        with Session(self._reader) as session:
            rows = session.scalars(query.order_by(ScanRow.id).limit(limit))
            return [_record(row) for row in rows]

    def inside_page(self, where: ScanFilter, after_id: int, limit: int) -> list[ScanRecord]:
        """Up to `limit` of those inside now, as the scans that let them in, oldest first."""
        inside = select(PresenceRow).where(
            PresenceRow.inside.is_(True), func.coalesce(PresenceRow.entry_scan, 0) > after_id
        )
        query = where.applied(
            inside, PresenceRow.kind, PresenceRow.subject_id, PresenceRow.entered_gate,
            PresenceRow.entered_at,
        )  # fmt: skip
        with Session(self._reader) as session:
            rows = session.scalars(query.order_by(PresenceRow.entry_scan).limit(limit))
            return [_presence_record(row) for row in rows]

    def inside_counts(self) -> dict[str, int]:
        """How many subjects of each kind are inside now."""
        query = (
            select(PresenceRow.kind, func.count())
            .where(PresenceRow.inside.is_(True))
            .group_by(PresenceRow.kind)
        )
        with self._reader.connect() as connection:
            return {kind: count for kind, count in connection.execute(query)}

    def prune(self, before_ms: int) -> int:
        """Delete the scans made before `before_ms`; presence (who is inside) is kept."""
        with self._writing(), Session(self._engine) as session, session.begin():
            result = session.execute(delete(ScanRow).where(ScanRow.scanned_at < before_ms))
            return cast(CursorResult[Any], result).rowcount or 0
