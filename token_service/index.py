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
# fetching each subject, and listeners are told to drop everything rather than each subject.
RELOAD_THRESHOLD = 500


@dataclass(frozen=True)
class IndexUpdate:
    """What one sync applied: the changed subjects, or `reset` when too many to list."""

    sequence: int
    changes: tuple[tuple[str, str], ...]
    reset: bool = False


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

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (from the syncing thread) after every applied change; returns undo."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify_reset(self) -> None:
        """Tell listeners to drop what they derived from the index (for example: keys changed)."""
        self._notify(IndexUpdate(self.sequence, (), reset=True))

    def sync(self) -> IndexUpdate | None:
        """Apply every change after `sequence`; database errors propagate to the caller."""
        applied: IndexUpdate | None = None
        with self._lock:
            while True:
                changes = self._store.changes_after(self.sequence, _BATCH)
                if not changes:
                    break
                applied = self._apply(changes)
                self.sequence = changes[-1].sequence
                self._notify(applied)
        return applied

    def _apply(self, changes: list[Change]) -> IndexUpdate:
        ids: dict[str, list[str]] = {kind: [] for kind in BY_NAME}
        for change in changes:
            if change.kind in ids:
                ids[change.kind].append(change.subject_id)
        reset = False
        for kind, changed in ids.items():
            if len(changed) > RELOAD_THRESHOLD:
                self._replace_kind(kind, self._store.live(kind))
                reset = True
            elif changed:
                for subject_id, record in self._store.records(kind, changed).items():
                    self._put(kind, subject_id, record)
        sequence = changes[-1].sequence
        if reset:
            return IndexUpdate(sequence, (), reset=True)
        pairs = dict.fromkeys((c.kind, c.subject_id) for c in changes)
        return IndexUpdate(sequence, tuple(pairs))

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
