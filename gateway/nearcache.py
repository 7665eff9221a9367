"""The near-cache: each subject's current token with its default PNG, in the gateway's memory.

A hit is served without crossing to the services. The image of a token never changes (it is
keyed by content); what changes is which token is current, and the token service says so on
WatchSubjectChanges. Entries are used only while that stream is live: when it breaks or falls
silent they are dropped and every pass goes through the services until it is back.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from gateway.answers import Pass
from gateway.compression import gzipped

# The stream carries a heartbeat twice a second; past this silence the cache stops serving.
STALE_AFTER_SECONDS = 2.0
_ENTRY_OVERHEAD_BYTES = 400  # dict slot, key tuple, the entry object and its strings' headers


def pass_body(token: str, png: bytes, cached: bool) -> bytes:
    """The pass body the mobile backend consumes: token, data-URL PNG, and whether it was a hit."""
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    return msgspec.json.encode(Pass(success=True, qr_token=token, qr_image=data_url, cached=cached))


@dataclass
class Entry:
    """A subject's current token and its default PNG; the JSON body is built on first use."""

    token: str
    png: bytes
    etag: str
    _json: bytes | None = field(default=None, repr=False)
    _json_gzip: bytes | None = field(default=None, repr=False)

    @property
    def json_body(self) -> bytes:
        if self._json is None:
            self._json = pass_body(self.token, self.png, cached=True)
        return self._json

    @property
    def json_gzip(self) -> bytes:
        """The JSON body gzip-compressed once, so a compressed hit costs what a plain one does."""
        if self._json_gzip is None:
            self._json_gzip = gzipped(self.json_body)
        return self._json_gzip

    @property
    def size(self) -> int:
        # Counted as if both JSON bodies were built (each at most the PNG's base64 and the token,
        # since gzip never grows base64), so the bound holds whatever clients ask for.
        json_bound = len(self.token) + len(self.png) * 4 // 3 + 100
        return _ENTRY_OVERHEAD_BYTES + len(self.token) + len(self.png) + 2 * json_bound


class NearCache:
    """An LRU of entries bounded in bytes; knows nothing of HTTP or gRPC."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self.bytes = 0
        self.sequence = 0  # the newest change-log position the stream has told us
        self._heard = float("-inf")  # when the stream last spoke; -inf: not connected
        self.hits = self.misses = self.bypasses = self.resets = 0

    @property
    def live(self) -> bool:
        return self.max_bytes > 0 and self._clock() - self._heard < STALE_AFTER_SECONDS

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, kind: str, subject_id: str, *, count: bool = True) -> Entry | None:
        """The entry, if the cache is live and holds one; counts the lookup unless told not to
        (the hot path counts only what it serves, and a route looks again after it)."""
        if not self.live:
            if self._entries:
                self._drop_all()
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

    def put(self, kind: str, subject_id: str, entry: Entry, sequence: int) -> bool:
        """Keep `entry` unless the answer behind it (at `sequence`) is older than what we know."""
        if not self.live or sequence < self.sequence:
            return False
        self.drop(kind, subject_id)
        self._entries[(kind, subject_id)] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
        return True

    def drop(self, kind: str, subject_id: str) -> None:
        entry = self._entries.pop((kind, subject_id), None)
        if entry is not None:
            self.bytes -= entry.size

    def wrote(self, kind: str, subject_id: str | None, sequence: int) -> None:
        """This gateway changed a subject (None: many) at `sequence`: forget it, and never again
        keep or ask for an answer older than that."""
        if subject_id is None:
            self._drop_all()
        else:
            self.drop(kind, subject_id)
        self.sequence = max(self.sequence, sequence)

    def heard(self, sequence: int) -> None:
        """The stream spoke (a heartbeat or a change) at `sequence`."""
        self._heard = self._clock()
        self.sequence = max(self.sequence, sequence)

    def changed(self, sequence: int, subjects: Iterable[tuple[str, str]]) -> None:
        for kind, subject_id in subjects:
            self.drop(kind, subject_id)
        self.heard(sequence)

    def reset(self, sequence: int) -> None:
        """Start over from `sequence`: the stream (re)connected or asked us to drop everything."""
        self._drop_all()
        self.resets += 1
        self.sequence = sequence
        self.heard(sequence)

    def disconnected(self) -> None:
        """The stream broke: nothing cached may be served until it is back."""
        self._heard = float("-inf")
        self._drop_all()

    def _drop_all(self) -> None:
        self._entries.clear()
        self.bytes = 0
