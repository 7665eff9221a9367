"""The change stream's messages: how a watch opens (resume or snapshot) and each update, split.

A watcher that names the position it has applied gets every subject changed since, from the
change log, so a token-service restart or failover costs it nothing it had. One that cannot be
followed (no position, a position the log does not hold, keys changed, too slow a reader) gets
a reset and, when it asked for tokens, a snapshot of every live subject's current token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.vocabulary import BY_NAME
from token_service.store import SubjectRecord

# Subjects a message carries: a snapshot of 250,000 students is 250 messages of about 300 KB.
CHUNK = 1000
# A watcher further behind than this many changes is sent a snapshot: cheaper than the list.
RESUME_LIMIT = 100_000

REASONS = {
    "new_watcher": pb.RESET_REASON_NEW_WATCHER,
    "position_unknown": pb.RESET_REASON_POSITION_UNKNOWN,
    "keys_changed": pb.RESET_REASON_KEYS_CHANGED,
    "too_slow": pb.RESET_REASON_TOO_SLOW,
}

# The token a watcher may keep for a record: None when it must be re-signed first.
Keepable = Callable[[SubjectRecord], str | None]


def _subject_token(record: SubjectRecord, token: str) -> pb.SubjectToken:
    subject = pb.Subject(kind=BY_NAME[record.kind].value, id=record.id)
    return pb.SubjectToken(subject=subject, token=token, kid=record.kid or "",
                           version=record.version)  # fmt: skip


def _tokens(records: Sequence[SubjectRecord | None], keepable: Keepable) -> list[pb.SubjectToken]:
    found = []
    for record in records:
        token = keepable(record) if record is not None else None
        if record is not None and token:
            found.append(_subject_token(record, token))
    return found


def changes(
    sequence: int,
    pairs: Sequence[tuple[str, str]],
    records: Sequence[SubjectRecord | None],
    keepable: Keepable | None,
) -> Iterator[pb.WatchSubjectChangesResponse]:
    """The changed subjects (and, with `keepable`, their tokens), CHUNK a message."""
    for start in range(0, max(len(pairs), 1), CHUNK):
        chunk = slice(start, start + CHUNK)
        yield pb.WatchSubjectChangesResponse(
            sequence=sequence,
            subjects=[pb.Subject(kind=BY_NAME[kind].value, id=sid) for kind, sid in pairs[chunk]],
            tokens=_tokens(records[chunk], keepable) if keepable else [],
            partial=start + CHUNK < len(pairs),
        )


def reset(
    sequence: int, reason: str, records: Sequence[SubjectRecord] | None, keepable: Keepable | None
) -> Iterator[pb.WatchSubjectChangesResponse]:
    """A reset; with `keepable`, followed by the snapshot of `records`."""
    listed = keepable is not None and bool(records)
    yield pb.WatchSubjectChangesResponse(
        sequence=sequence, reset=True, reset_reason=REASONS[reason], partial=listed
    )
    if keepable is None or not records:
        return
    for start in range(0, len(records), CHUNK):
        yield pb.WatchSubjectChangesResponse(
            sequence=sequence,
            tokens=_tokens(records[start : start + CHUNK], keepable),
            partial=start + CHUNK < len(records),
        )
