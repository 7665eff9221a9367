"""Students and stalls in SQL (SQLAlchemy): this service is the only writer of these tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qrpass.core import tracing
from qrpass.vocabulary import STALL, STUDENT


class Base(DeclarativeBase):
    """Declarative base of this service's tables."""


class _SubjectColumns:
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    token: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_kid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_issued_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Soft delete: a re-imported id continues its version, so old passes stay revoked.
    deleted_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[int] = mapped_column(Integer)


class StudentRow(_SubjectColumns, Base):
    """A student; identity at the gate is the registration number."""

    __tablename__ = STUDENT.plural
    registration_no: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))


class StallRow(_SubjectColumns, Base):
    """A stall; identity at the gate is the stall number."""

    __tablename__ = STALL.plural
    stall_number: Mapped[str] = mapped_column(String(64))


class ChangeRow(Base):
    """One change to a subject (rotate, delete, import); `sequence` orders them across replicas."""

    __tablename__ = "subject_changes"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[int] = mapped_column(Integer)


TABLES: dict[str, type[StudentRow] | type[StallRow]] = {
    STUDENT.name: StudentRow,
    STALL.name: StallRow,
}
# The identity fields an import sets, per kind (the columns besides id).
FIELDS: dict[str, tuple[str, ...]] = {
    STUDENT.name: (STUDENT.identity_field, "name", "email"),
    STALL.name: (STALL.identity_field, "name"),
}

Signer = Callable[[str, str, int], tuple[str, str]]  # (kind, id, version) -> (token, kid)
# Held by every writing transaction on PostgreSQL while it appends to the change log, so change
# sequences become visible in the order they were allocated and a reader never skips one.
# Sequences are allocated as the log's last + 1 under it, not by a database sequence: those
# skip numbers on a rollback and after a failover (PostgreSQL logs them 32 ahead), and a log
# without gaps lets every reader tell a missed change from none.
_CHANGE_LOG_LOCK = 0x71_72_70_61  # "qrpa"
# Imports of one kind run one at a time across every replica (PostgreSQL advisory lock), so two
# imports of the same new ids never race to insert them.
_IMPORT_LOCKS = {STUDENT.name: _CHANGE_LOG_LOCK + 1, STALL.name: _CHANGE_LOG_LOCK + 2}
_IN_CLAUSE_BATCH = 500


# Slotted: the index holds one per subject (25,000 at a campus), 48 bytes fewer each.
@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """A live subject with its current token."""

    kind: str
    id: str
    name: str
    version: int
    token: str | None
    kid: str | None
    issued_at: int | None
    registration_no: str = ""
    email: str = ""
    stall_number: str = ""


@dataclass(frozen=True, slots=True)  # one per change-log row read
class Change:
    """A row of the change log."""

    sequence: int
    kind: str
    subject_id: str


@dataclass(frozen=True)
class UpsertCounts:
    """What an import changed."""

    created: int
    updated: int
    unchanged: int


def _record(kind: str, row: Any) -> SubjectRecord:
    """A record from an ORM row or a Core row (both have the columns as attributes)."""
    extra = {field: getattr(row, field) for field in FIELDS[kind] if field != "name"}
    return SubjectRecord(
        kind=kind,
        id=row.id,
        name=row.name,
        version=row.token_version,
        token=row.token,
        kid=row.token_kid,
        issued_at=row.token_issued_at,
        **extra,
    )


def create_db_engine(url: str) -> Engine:
    """An engine with settings that suit each backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
            # WAL lets readers run while an import writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    else:
        # No pre-ping: a dropped connection invalidates the pool, and the next checkout
        # reconnects. hide_parameters: a driver error's message never carries tokens, names or
        # emails to a log.
        engine = create_engine(
            url, pool_size=10, max_overflow=5, pool_timeout=5, hide_parameters=True
        )
    tracing.instrument_engine(engine)
    return engine


class SubjectStore:
    """Reads and writes subjects; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._import_locks = {kind: threading.Lock() for kind in _IMPORT_LOCKS}
        # Reads skip the ORM's unit of work and, in autocommit, BEGIN and ROLLBACK round trips.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    def live(self, kind: str) -> list[SubjectRecord]:
        """Every live subject of a kind: what an in-memory index loads at start."""
        table = TABLES[kind]
        columns = table.__table__.columns
        with self._reader.connect() as connection:
            rows = connection.execute(select(*columns).where(table.deleted_at.is_(None)))
            return [_record(kind, row) for row in rows]

    def records(self, kind: str, ids: Sequence[str]) -> dict[str, SubjectRecord | None]:
        """The named subjects as they are now; None for a deleted or unknown id."""
        table = TABLES[kind]
        found: dict[str, SubjectRecord | None] = dict.fromkeys(ids)
        with self._reader.connect() as connection:
            for start in range(0, len(ids), _IN_CLAUSE_BATCH):
                batch = ids[start : start + _IN_CLAUSE_BATCH]
                query = select(*table.__table__.columns).where(table.id.in_(batch))
                for row in connection.execute(query):
                    found[row.id] = None if row.deleted_at is not None else _record(kind, row)
        return found

    def last_sequence(self) -> int:
        """The newest change's sequence, or 0 when nothing has changed yet."""
        with self._reader.connect() as connection:
            return connection.scalar(select(func.max(ChangeRow.sequence))) or 0

    def changes_after(self, sequence: int, limit: int) -> list[Change]:
        """Up to `limit` changes after `sequence`, oldest first."""
        query = (
            select(ChangeRow.sequence, ChangeRow.kind, ChangeRow.subject_id)
            .where(ChangeRow.sequence > sequence)
            .order_by(ChangeRow.sequence)
            .limit(limit)
        )
        with self._reader.connect() as connection:
            return [Change(*row) for row in connection.execute(query)]

    def revoked(self, after_sequence: int | None) -> list[tuple[str, str, int | None]]:
        """(kind, id, lowest version that verifies, or None when deleted) of every subject whose
        early passes no longer verify; only those changed after `after_sequence` when given."""
        found: list[tuple[str, str, int | None]] = []
        with self._reader.connect() as connection:
            for kind, table in TABLES.items():
                query = select(table.id, table.token_version, table.deleted_at).where(
                    or_(table.token_version > 1, table.deleted_at.is_not(None))
                )
                if after_sequence is not None:
                    changed = select(ChangeRow.subject_id).where(
                        ChangeRow.kind == kind, ChangeRow.sequence > after_sequence
                    )
                    query = query.where(table.id.in_(changed))
                for subject_id, version, deleted_at in connection.execute(query.order_by(table.id)):
                    found.append((kind, subject_id, None if deleted_at is not None else version))
        return found

    def _log_changes(self, session: Session, kind: str, ids: Sequence[str], now: int) -> None:
        """Append to the change log inside the caller's transaction, after its other writes."""
        if not ids:
            return
        if self._engine.dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(_CHANGE_LOG_LOCK)))
        # SQLite: the caller's writes came first, so this transaction already holds the lock
        # that lets one writer in at a time.
        last = session.scalar(select(func.max(ChangeRow.sequence))) or 0
        session.execute(
            insert(ChangeRow),
            [{"sequence": sequence, "kind": kind, "subject_id": subject_id, "changed_at": now}
             for sequence, subject_id in enumerate(ids, start=last + 1)],
        )  # fmt: skip

    def count(self, kind: str) -> int:
        table = TABLES[kind]
        with Session(self._engine) as session:
            query = select(func.count()).select_from(table).where(table.deleted_at.is_(None))
            return session.scalar(query) or 0

    def page(self, kind: str, after_id: str, limit: int) -> list[SubjectRecord]:
        """Up to `limit` live subjects with ids after `after_id`, in id order (keyset paging)."""
        table = TABLES[kind]
        with Session(self._engine) as session:
            rows = session.scalars(
                select(table)
                .where(table.deleted_at.is_(None), table.id > after_id)
                .order_by(table.id)
                .limit(limit)
            )
            return [_record(kind, row) for row in rows]

    def save_tokens(self, kind: str, tokens: Sequence[tuple[str, int, str, str, int]]) -> None:
        """Store re-signed tokens (id, version, token, kid, issued_at) if still at that version."""
        table = TABLES[kind]
        saved = []
        with Session(self._engine) as session, session.begin():
            for subject_id, version, token, kid, issued_at in tokens:
                result = session.execute(
                    update(table)
                    .where(table.id == subject_id, table.token_version == version)
                    .values(token=token, token_kid=kid, token_issued_at=issued_at)
                )
                if cast(CursorResult[Any], result).rowcount == 1:
                    saved.append(subject_id)
            self._log_changes(session, kind, saved, int(time.time()))

    def rotate(self, kind: str, subject_id: str, sign: Signer) -> SubjectRecord | None:
        """Bump the version and store a new token, or None if there is no live subject."""
        table = TABLES[kind]
        with Session(self._engine) as session, session.begin():
            row = cast(
                "StudentRow | StallRow | None", session.get(table, subject_id, with_for_update=True)
            )
            if row is None or row.deleted_at is not None:
                return None
            row.token_version += 1
            row.token, row.token_kid = sign(kind, subject_id, row.token_version)
            row.token_issued_at = row.updated_at = int(time.time())
            record = _record(kind, row)
            session.flush()
            self._log_changes(session, kind, [subject_id], row.updated_at)
            return record

    def delete(self, kind: str, subject_id: str) -> bool:
        table = TABLES[kind]
        now = int(time.time())
        with Session(self._engine) as session, session.begin():
            result = session.execute(
                update(table)
                .where(table.id == subject_id, table.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now, token=None, token_kid=None)
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                return False
            self._log_changes(session, kind, [subject_id], now)
            return True

    def upsert(self, kind: str, rows: Iterable[dict[str, str]], sign: Signer) -> UpsertCounts:
        """Insert new subjects and update changed ones in one transaction: all or nothing."""
        table = TABLES[kind]
        fields = FIELDS[kind]
        now = int(time.time())
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        created = updated = unchanged = 0
        with self._import_locks[kind], Session(self._engine) as session, session.begin():
            if self._engine.dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCKS[kind])))
            columns = [table.id, table.token_version, table.deleted_at]
            columns += [getattr(table, f) for f in fields]
            existing = {r.id: r for r in session.execute(select(*columns))}
            for row in rows:
                old = existing.get(row["id"])
                if old is None:
                    token, kid = sign(kind, row["id"], 1)
                    inserts.append(
                        {**row, "token_version": 1, "token": token, "token_kid": kid,
                         "token_issued_at": now, "updated_at": now}
                    )  # fmt: skip
                    created += 1
                elif old.deleted_at is not None:
                    version = old.token_version + 1
                    token, kid = sign(kind, row["id"], version)
                    updates.append(
                        {**row, "token_version": version, "token": token, "token_kid": kid,
                         "token_issued_at": now, "deleted_at": None, "updated_at": now}
                    )  # fmt: skip
                    created += 1
                elif any(getattr(old, f) != row[f] for f in fields):
                    updates.append({**row, "updated_at": now})
                    updated += 1
                else:
                    unchanged += 1
            if inserts:
                session.execute(insert(table), inserts)
            if updates:
                session.execute(update(table), updates)
            changed = [str(row["id"]) for row in inserts + updates]
            self._log_changes(session, kind, changed, now)
        return UpsertCounts(created, updated, unchanged)
