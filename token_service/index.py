"""The in-memory subject index: every live subject by id and by current token.

Issue and verify read it without touching the database, so passes keep being issued and scans
verified while PostgreSQL is down. Every write appends to the change log in its transaction;
each replica applies the log in sequence order: at once after its own writes, and by polling
for the writes of other replicas. While the database is unreachable no write can commit, so
the index stays correct; at most the last poll interval's changes wait until it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from qrpass.vocabulary import BY_NAME
from token_service.store import Change, SubjectRecord, SubjectStore

log = logging.getLogger(__name__)

_BATCH = 5000  # changes read per query
# Past this many changes of one kind in one sync, reloading the whole kind is cheaper than
# fetching each subject (listeners are still told each subject that changed).
RELOAD_THRESHOLD = 500


@dataclass(frozen=True)
class IndexUpdate:
    """What one sync applied: the changed subjects with their records now (None: gone), or
    `reset` when listeners must drop everything (the signing keys changed)."""

    sequence: int
    changes: tuple[tuple[str, str], ...]
    records: tuple[SubjectRecord | None, ...] = ()
    reset: bool = False
    reset_reason: str = ""  # "keys_changed", or "too_slow" for a watcher that fell behind


Listener = Callable[[IndexUpdate], None]


class SubjectIndex:
    """Lock-free reads (one dict lookup); writes serialized by a lock held across each sync."""

    def __init__(self, store: SubjectStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, SubjectRecord]] = {kind: {} for kind in BY_NAME}
        self._by_token: dict[str, SubjectRecord] = {}
        self._listeners: list[Listener] = []
        self.sequence = 0

    def load(self) -> None:
        """Load every live subject, then whatever changed while loading."""
        with self._lock:
            head = self._store.last_sequence()
            for kind in BY_NAME:
                self._replace_kind(kind, self._store.live(kind))
            self.sequence = head
        self.sync()

    def get(self, kind: str, subject_id: str) -> SubjectRecord | None:
        return self._by_id[kind].get(subject_id)

    def by_token(self, token: str) -> SubjectRecord | None:
        """The subject whose current token is exactly `token`."""
        return self._by_token.get(token)

    def size(self, kind: str) -> int:
        return len(self._by_id[kind])

    def snapshot(self) -> tuple[int, list[SubjectRecord]]:
        """Every live subject and the position they reflect, read between two syncs."""
        with self._lock:
            return self.sequence, [r for kind in BY_NAME for r in self._by_id[kind].values()]

    def current(self, pairs: list[tuple[str, str]]) -> tuple[int, list[SubjectRecord | None]]:
        """The named subjects as this index holds them now (None: gone), and the position."""
        with self._lock:
            return self.sequence, [self._by_id[kind].get(sid) for kind, sid in pairs]

    def changed_since(self, sequence: int, limit: int) -> list[tuple[str, str]] | None:
        """The subjects the change log names after `sequence`, each once, from the database;
        None when more than `limit` changes follow it."""
        changes: list[Change] = []
        while batch := self._store.changes_after(
            changes[-1].sequence if changes else sequence, min(_BATCH, limit + 1)
        ):
            changes += batch
            if len(changes) > limit:
                return None
        return list(dict.fromkeys((c.kind, c.subject_id) for c in changes if c.kind in BY_NAME))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (from the syncing thread) after every applied change; returns undo."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify_reset(self) -> None:
        """Tell listeners to drop what they derived from the index (for example: keys changed)."""
        self._notify(IndexUpdate(self.sequence, (), reset=True, reset_reason="keys_changed"))

    def sync(self) -> IndexUpdate | None:
        """Apply every change after `sequence`; database errors propagate to the caller."""
        with self._lock:
            # Read the whole backlog first and apply it once: an import of 250,000 rows is
            # then one reload of its kind, not one per batch of the log.
            changes: list[Change] = []
            while batch := self._store.changes_after(
                changes[-1].sequence if changes else self.sequence, _BATCH
            ):
                changes += batch
            if not changes:
                return None
            applied = self._apply(changes)
            self.sequence = changes[-1].sequence
            self._notify(applied)
        return applied

    def _apply(self, changes: list[Change]) -> IndexUpdate:
        ids: dict[str, list[str]] = {kind: [] for kind in BY_NAME}
        for change in changes:
            if change.kind in ids:
                ids[change.kind].append(change.subject_id)
        for kind, changed in ids.items():
            if len(changed) > RELOAD_THRESHOLD:
                self._replace_kind(kind, self._store.live(kind))
            elif changed:
                for subject_id, record in self._store.records(kind, changed).items():
                    self._put(kind, subject_id, record)
        pairs = tuple(dict.fromkeys((c.kind, c.subject_id) for c in changes if c.kind in ids))
        records = tuple(self._by_id[kind].get(subject_id) for kind, subject_id in pairs)
        return IndexUpdate(changes[-1].sequence, pairs, records)

    def _put(self, kind: str, subject_id: str, record: SubjectRecord | None) -> None:
        old = self._by_id[kind].pop(subject_id, None)
        if old is not None and old.token:
            self._by_token.pop(old.token, None)
        if record is not None:
            self._by_id[kind][subject_id] = record
            if record.token:
                self._by_token[record.token] = record

    def _replace_kind(self, kind: str, records: list[SubjectRecord]) -> None:
        for old in self._by_id[kind].values():
            if old.token:
                self._by_token.pop(old.token, None)
        self._by_id[kind] = {}
        for record in records:
            self._put(kind, record.id, record)

    def _notify(self, update: IndexUpdate) -> None:
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:  # a broken subscriber must not stop the index
                log.exception("index listener failed")
