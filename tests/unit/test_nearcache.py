"""The gateway's near-cache: served only while the change stream is live, never stale, bounded."""

from __future__ import annotations

import gzip
import json

from gateway.nearcache import STALE_AFTER_SECONDS, Entry, NearCache, pass_body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(max_bytes: int = 10_000_000) -> tuple[NearCache, Clock]:
    clock = Clock()
    return NearCache(max_bytes, clock), clock


def _entry(token: str = "t1") -> Entry:
    return Entry(token, b"\x89PNG" + b"x" * 1000, '"etag"')


def test_nothing_is_kept_or_served_before_the_stream_says_hello():
    cache, _ = _cache()
    assert cache.put("students", "S1", _entry(), sequence=5) is False
    assert cache.get("students", "S1") is None
    assert cache.bypasses == 1
    cache.reset(5)
    assert cache.put("students", "S1", _entry(), sequence=5) is True
    assert cache.get("students", "S1").token == "t1"
    assert cache.hits == 1


def test_an_answer_older_than_the_stream_is_not_kept():
    cache, _ = _cache()
    cache.reset(10)
    assert cache.put("students", "S1", _entry(), sequence=9) is False
    assert cache.get("students", "S1") is None


def test_a_change_drops_its_subject_and_a_reset_drops_everything():
    cache, _ = _cache()
    cache.reset(1)
    cache.put("students", "S1", _entry("a"), 1)
    cache.put("students", "S2", _entry("b"), 1)
    cache.put("stalls", "S1", _entry("c"), 1)
    cache.changed(2, [("students", "S1")])
    assert cache.get("students", "S1") is None
    assert cache.get("stalls", "S1").token == "c"  # same id, other kind: untouched
    assert cache.sequence == 2
    cache.reset(3)
    assert len(cache) == 0 and cache.bytes == 0


def test_a_silent_or_broken_stream_stops_serving_and_drops_entries():
    cache, clock = _cache()
    cache.reset(1)
    cache.put("students", "S1", _entry(), 1)
    clock.now += STALE_AFTER_SECONDS - 0.1
    assert cache.get("students", "S1") is not None
    clock.now += 0.2  # no heartbeat for longer than the bound
    assert cache.get("students", "S1") is None
    assert len(cache) == 0
    cache.heard(1)
    cache.put("students", "S1", _entry(), 1)
    cache.disconnected()
    assert cache.get("students", "S1") is None and not cache.live


def test_own_writes_raise_the_floor_and_drop_the_subject():
    cache, _ = _cache()
    cache.reset(1)
    cache.put("students", "S1", _entry(), 1)
    cache.wrote("students", "S1", 7)
    assert cache.get("students", "S1") is None
    assert cache.put("students", "S1", _entry(), 6) is False  # a replica that was behind
    assert cache.put("students", "S1", _entry(), 7) is True
    cache.wrote("students", None, 8)  # an import: many subjects
    assert len(cache) == 0


def test_the_size_bound_evicts_least_recently_used_first():
    entry_size = _entry().size
    cache, _ = _cache(max_bytes=entry_size * 3)
    cache.reset(1)
    for i in range(3):
        cache.put("students", f"S{i}", _entry(f"t{i}"), 1)
    cache.get("students", "S0")  # S0 is now the most recent
    cache.put("students", "S3", _entry("t3"), 1)
    assert cache.get("students", "S1") is None
    assert cache.get("students", "S0") is not None
    assert cache.bytes <= cache.max_bytes


def test_zero_bytes_turns_it_off():
    cache, _ = _cache(max_bytes=0)
    cache.reset(1)
    assert cache.put("students", "S1", _entry(), 1) is False


def test_the_stored_json_body_is_the_contract_shape():
    entry = _entry("tok")
    body = json.loads(entry.json_body)
    assert body["success"] is True and body["qr_token"] == "tok" and body["cached"] is True
    assert body["qr_image"].startswith("data:image/png;base64,")
    assert json.loads(pass_body("tok", entry.png, cached=False))["cached"] is False
    assert entry.size >= len(entry.json_body) + len(entry.png) + len(entry.json_gzip)


def test_the_gzipped_body_is_the_json_body_compressed_once():
    entry = _entry("tok")
    assert gzip.decompress(entry.json_gzip) == entry.json_body
    assert entry.json_gzip is entry.json_gzip  # kept, not compressed again per hit
