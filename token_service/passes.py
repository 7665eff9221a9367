"""The pass book: issue, verify, rotate, list, import and delete, over the store and the codec."""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass, replace

from qrpass.vocabulary import BY_NAME, ID_PATTERN, ID_RULE, MAX_TOKEN_BYTES
from token_service import importer
from token_service.errors import InvalidRequest, SubjectNotFound
from token_service.index import SubjectIndex
from token_service.keys import KeyRing
from token_service.paging import decode_page_token, encode_page_token, page_size
from token_service.store import SubjectRecord, SubjectStore, UpsertCounts
from token_service.tokens import Failure, TokenCodec


@dataclass(frozen=True)
class IssuedToken:
    """A subject's token, as handed out."""

    token: str
    kid: str
    version: int
    sequence: int = 0  # the change-log position the answer reflects


@dataclass(frozen=True)
class Verdict:
    """The answer for a scanned token."""

    valid: bool
    failure: Failure | None
    subject: SubjectRecord | None = None
    kind: str = ""
    subject_id: str = ""
    kid: str = ""
    version: int = 0
    legacy: bool = False


@dataclass(frozen=True)
class Page:
    """One page of subjects with their current tokens."""

    subjects: list[SubjectRecord]
    next_page_token: str
    total_size: int


@dataclass(frozen=True)
class ImportResult:
    """Counts on success, or the problems when nothing was written."""

    counts: UpsertCounts | None
    problems: list[importer.RowProblem]
    sequence: int = 0


def check_kind(kind: str) -> None:
    if kind not in BY_NAME:
        raise InvalidRequest(f"kind must be {' or '.join(BY_NAME)}")


def check_subject(kind: str, subject_id: str) -> None:
    check_kind(kind)
    if not ID_PATTERN.fullmatch(subject_id):
        raise InvalidRequest(f"subject_id must match {ID_RULE}")


class PassBook:
    """The token service's domain logic; knows nothing of gRPC.

    Issue and verify read the in-memory index and never wait on the database (unless a stored
    token must be re-signed); writes go to the store and then sync the index before returning,
    so this replica never serves or accepts a replaced token once the write has answered.
    """

    def __init__(
        self,
        store: SubjectStore,
        codec: TokenCodec,
        keyring: KeyRing,
        index: SubjectIndex,
        import_max_rows: int = importer.DEFAULT_MAX_ROWS,
    ) -> None:
        self._store = store
        self._import_max_rows = import_max_rows
        self._codec = codec
        self._keyring = keyring
        self._index = index

    def _issued(self, record: SubjectRecord) -> IssuedToken:
        token, kid = record.token or "", record.kid or ""
        return IssuedToken(token, kid, record.version, self._index.sequence)

    def issue_cached(self, kind: str, subject_id: str) -> IssuedToken | None:
        """The subject's token from memory, or None when it must be re-signed (see `issue`)."""
        check_subject(kind, subject_id)
        record = self._index.get(kind, subject_id)
        if record is None:
            raise SubjectNotFound(f"no {kind} with id {subject_id!r}")
        return self._issued(record) if self.keepable(record) else None

    def keepable(self, record: SubjectRecord) -> str | None:
        """The record's token if it can be handed out as it is (its key is known and, with a
        lifetime, less than half of it has passed); None when it must be re-signed first."""
        if record.token and self._codec.is_current(record.token, record.kid):
            return record.token
        return None

    def issue(self, kind: str, subject_id: str) -> IssuedToken:
        """The subject's token; re-signed (same version) if its key is gone or half its life is."""
        cached = self.issue_cached(kind, subject_id)
        if cached is not None:
            return cached
        record = self._index.get(kind, subject_id)
        if record is None:
            raise SubjectNotFound(f"no {kind} with id {subject_id!r}")
        now = int(time.time())
        token, kid = self._codec.sign(record.kind, record.id, record.version, now)
        self._store.save_tokens(record.kind, [(record.id, record.version, token, kid, now)])
        self._index.sync()
        return self._issued(self._index.get(kind, subject_id) or record)

    def subject(self, kind: str, subject_id: str) -> SubjectRecord | None:
        """The live subject, from memory."""
        return self._index.get(kind, subject_id)

    def rotate(self, kind: str, subject_id: str) -> IssuedToken:
        check_subject(kind, subject_id)
        record = self._store.rotate(kind, subject_id, self._codec.sign)
        if record is None:
            raise SubjectNotFound(f"no {kind} with id {subject_id!r}")
        self._index.sync()
        return self._issued(record)

    def verify(self, token: str, expected_kind: str | None = None) -> Verdict:
        if not token:
            raise InvalidRequest("token is empty")
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise InvalidRequest(f"token is longer than {MAX_TOKEN_BYTES} bytes")
        current = self._index.by_token(token)
        if current is not None and self._codec.still_valid(token, current.kid):
            # Byte for byte the subject's current token, which this service signed: the
            # signature was checked when it was made; its key and lifetime are checked now.
            found = Verdict(False, None, None, current.kind, current.id, current.kid or "",
                            current.version)  # fmt: skip
            if expected_kind and current.kind != expected_kind:
                return replace(found, failure=Failure.WRONG_KIND)
            return replace(found, valid=True, subject=current)
        decoded = self._codec.decode(token)
        claims = decoded.claims
        if claims is None:
            return Verdict(False, decoded.failure, kid=decoded.kid)
        found = Verdict(False, None, None, claims.kind, claims.subject_id, claims.kid,
                        claims.version, claims.legacy)  # fmt: skip
        if expected_kind and claims.kind != expected_kind:
            return replace(found, failure=Failure.WRONG_KIND)
        record = self._index.get(claims.kind, claims.subject_id)
        if record is None:
            return replace(found, failure=Failure.SUBJECT_NOT_FOUND)
        if claims.version != record.version:
            return replace(found, failure=Failure.REVOKED, subject=record)
        return replace(found, valid=True, subject=record)

    def list(self, kind: str, requested_size: int, page_token: str) -> Page:
        check_kind(kind)
        size = page_size(requested_size)
        after = decode_page_token(kind, page_token, ID_PATTERN)
        records = self._store.page(kind, after, size + 1)
        more = len(records) > size
        records = records[:size]
        # Usually a no-op; re-signs tokens whose key was removed or whose lifetime is half gone.
        records = self._current_tokens(kind, records)
        next_token = encode_page_token(kind, records[-1].id) if more and records else ""
        return Page(records, next_token, self._store.count(kind))

    def import_file(self, kind: str, content: bytes, file_format: str | None) -> ImportResult:
        check_kind(kind)
        parsed = importer.parse(kind, content, file_format, max_rows=self._import_max_rows)
        if parsed.problems:
            return ImportResult(None, parsed.problems)
        counts = self._store.upsert(kind, parsed.rows, self._codec.sign)
        self._index.sync()
        return ImportResult(counts, [], self._index.sequence)

    def delete(self, kind: str, subject_id: str) -> int:
        """Delete the subject; returns the change-log position of the deletion."""
        check_subject(kind, subject_id)
        if not self._store.delete(kind, subject_id):
            raise SubjectNotFound(f"no {kind} with id {subject_id!r}")
        self._index.sync()
        return self._index.sequence

    def _current_tokens(
        self, kind: str, records: builtins.list[SubjectRecord]
    ) -> builtins.list[SubjectRecord]:
        """The records with tokens that can be handed out, re-signing (same version) if needed."""
        now = int(time.time())
        stale = [r for r in records if not (r.token and self._codec.is_current(r.token, r.kid))]
        if not stale:
            return records
        fresh: dict[str, SubjectRecord] = {}
        for record in stale:
            token, kid = self._codec.sign(kind, record.id, record.version, now)
            fresh[record.id] = replace(record, token=token, kid=kid, issued_at=now)
        self._store.save_tokens(
            kind, [(r.id, r.version, r.token or "", r.kid or "", now) for r in fresh.values()]
        )
        self._index.sync()
        return [fresh.get(r.id, r) for r in records]

    def jwks(self) -> tuple[builtins.list[dict[str, str]], str]:
        return self._keyring.jwks(), self._keyring.active.kid
