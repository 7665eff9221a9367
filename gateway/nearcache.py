"""The near-cache: every subject's current token, and the default PNG of as many as fit.

A hit is served without crossing to the services. The image of a token never changes (it is
keyed by content); what changes is which token is current, and the token service says so on
WatchSubjectChanges: a snapshot of every current token when the stream starts over, then each
change with its new token. So the gateway knows every current token (the directory), fills
images for them before anyone asks (gateway/fill.py), and a miss needs only the image.

Entries are served only while the stream is live and whole: silent for 2 s, broken, or in the
middle of a snapshot, the cache serves nothing. A broken stream resumes from `position`, so
what was held is served again once the changes since are applied; nothing is dropped whole
unless the token service says the stream cannot be followed (`reset`).
"""

from __future__ import annotations

import base64
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from gateway.answers import Pass
from gateway.compression import gzipped

# The stream carries a heartbeat twice a second; past this silence the cache stops serving.
STALE_AFTER_SECONDS = 2.0
# Per entry beyond its token, PNG and ETag: the entry object, its LRU slot and key tuple, and
# the headers of its strings (measured: tests/unit/test_nearcache.py holds it to this).
ENTRY_OVERHEAD_BYTES = 450

Key = tuple[str, str]  # (kind's plural, subject id)


def pass_body(token: str, png: bytes, cached: bool) -> bytes:
    """The pass body the mobile backend consumes: token, data-URL PNG, and whether it was a hit."""
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    return msgspec.json.encode(Pass(success=True, qr_token=token, qr_image=data_url, cached=cached))


@dataclass(slots=True)
class Entry:
    """A subject's token and its default PNG. The JSON bodies are built on each use (2 µs plain,
    15 µs gzip, measured) rather than kept: keeping them would triple an entry's memory."""

    token: str
    png: bytes
    etag: str

    @property
    def json_body(self) -> bytes:
        return pass_body(self.token, self.png, cached=True)

    @property
    def json_gzip(self) -> bytes:
        return gzipped(self.json_body)

    @property
    def size(self) -> int:
        return ENTRY_OVERHEAD_BYTES + len(self.token) + len(self.png) + len(self.etag)


class NearCache:
    """The directory of current tokens and an LRU of entries bounded in bytes; knows nothing of
    HTTP or gRPC. Only the entries count against `max_bytes`; the directory is the population's
    size (about 0.5 KB a subject) and is what makes every miss a single image lookup."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._tokens: dict[Key, str] = {}
        self.bytes = 0
        self.sequence = 0  # the newest position known (the stream's or this gateway's writes)
        self.position = 0  # the newest position the stream delivered: where it resumes from
        self._heard = float("-inf")  # when the stream last spoke; -inf: not connected
        self._whole = False  # False between a reset (or a partial message) and its end
        self.hits = self.misses = self.bypasses = 0
        self.resets: Counter[str] = Counter()

    @property
    def live(self) -> bool:
        return (
            self.max_bytes > 0 and self._whole and self._clock() - self._heard < STALE_AFTER_SECONDS
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def known_tokens(self) -> int:
        return len(self._tokens)

    def get(self, kind: str, subject_id: str, *, count: bool = True) -> Entry | None:
        """The entry, if the cache is live and holds one; counts the lookup unless told not to
        (the hot path counts only what it serves, and a route looks again after it)."""
        if not self.live:
            self.bypasses += count
            return None
        key = (kind, subject_id)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += count
            return None
        self._entries.move_to_end(key)
        self.hits += count
        return entry

    def token(self, kind: str, subject_id: str) -> str | None:
        """The subject's current token as the stream last said, while the cache is live."""
        return self._tokens.get((kind, subject_id)) if self.live else None

    def put(self, kind: str, subject_id: str, entry: Entry, sequence: int) -> bool:
        """Keep `entry` unless the answer behind it (at `sequence`) is older than what we know,
        or the stream has named another token for the subject since."""
        key = (kind, subject_id)
        known = self._tokens.get(key)
        if not self.live or sequence < self.sequence or known not in (None, entry.token):
            return False
        self._tokens[key] = entry.token
        self._keep(key, entry)
        return True

    def fill(self, key: Key, entry: Entry) -> bool:
        """Keep a filled entry if its token is still current and it fits without evicting."""
        if not self.live or self._tokens.get(key) != entry.token or key in self._entries:
            return False
        if self.bytes + entry.size > self.max_bytes:
            return False
        self._keep(key, entry)
        return True

    def unfilled(self) -> list[tuple[Key, str]]:
        """The subjects whose token is known and whose image is not held, in directory order."""
        entries = self._entries
        return [(key, token) for key, token in self._tokens.items() if key not in entries]

    def has_room(self, entry_bytes: int) -> bool:
        return self.bytes + entry_bytes <= self.max_bytes

    def _keep(self, key: Key, entry: Entry) -> None:
        self.drop(key)
        self._entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size

    def drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def wrote(self, kind: str, subject_id: str | None, sequence: int) -> None:
        """This gateway changed a subject at `sequence` (None: an import, which changes no
        current token): forget it, and never again keep or ask for an answer older than that."""
        if subject_id is not None:
            self.drop((kind, subject_id))
            self._tokens.pop((kind, subject_id), None)
        self.sequence = max(self.sequence, sequence)

    # What the change stream says, applied by gateway/watch.py.

    def heard(self, sequence: int, *, whole: bool = True) -> None:
        """The stream spoke at `sequence`; `whole` is False while a split message goes on."""
        self._heard = self._clock()
        self.position = max(self.position, sequence)
        self.sequence = max(self.sequence, sequence)
        if whole and not self._whole:
            self._whole = True
            self._prune()
        elif not whole:
            self._whole = False

    def changed(self, subjects: Iterable[Key], tokens: dict[Key, str]) -> None:
        """These subjects changed: each now holds `tokens[key]`, or no token to keep."""
        for key in subjects:
            token = tokens.get(key)
            entry = self._entries.get(key)
            if entry is not None and entry.token != token:
                self.drop(key)
            if token is None:
                self._tokens.pop(key, None)
            else:
                self._tokens[key] = token

    def listed(self, tokens: dict[Key, str]) -> None:
        """Part of a snapshot: these subjects are live with these tokens."""
        self._tokens.update(tokens)

    def reset(self, sequence: int, reason: str) -> None:
        """Start over from `sequence`: the directory is listed again (a snapshot follows) and
        until it ends nothing is served; entries whose token stays current are kept."""
        self.resets[reason] += 1
        self._tokens = {}
        self._whole = False
        self.position = sequence
        self.sequence = max(self.sequence, sequence)
        self._heard = self._clock()

    def disconnected(self) -> None:
        """The stream broke: nothing is served until it is back, but everything is kept."""
        self._heard = float("-inf")

    def _prune(self) -> None:
        """Drop entries whose subject the directory no longer names with their token."""
        tokens = self._tokens
        stale = [key for key, entry in self._entries.items() if tokens.get(key) != entry.token]
        for key in stale:
            self.drop(key)
