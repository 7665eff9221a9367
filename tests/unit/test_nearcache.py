"""The gateway's near-cache: served only while the change stream is live, never stale, bounded."""

from __future__ import annotations

import gzip
import json

from gateway.nearcache import (
    ENTRY_OVERHEAD_BYTES,
    STALE_AFTER_SECONDS,
    Entry,
    NearCache,
    pass_body,
)


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


def _live(cache: NearCache, sequence: int = 1, **tokens: str) -> None:
    """The stream opens: a reset, a snapshot of `tokens` (students by id), then whole."""
    cache.reset(sequence, "new_watcher")
    cache.listed({("students", sid): token for sid, token in tokens.items()})
    cache.heard(sequence)


def test_nothing_is_kept_or_served_before_the_stream_says_hello():
    cache, _ = _cache()
    assert cache.put("students", "S1", _entry(), sequence=5) is False
    assert cache.get("students", "S1") is None
    assert cache.bypasses == 1
    _live(cache, 5)
    assert cache.put("students", "S1", _entry(), sequence=5) is True
    assert cache.get("students", "S1").token == "t1"
    assert cache.hits == 1


def test_nothing_is_served_in_the_middle_of_a_snapshot():
    cache, _ = _cache()
    _live(cache, 1, S1="t1")
    cache.put("students", "S1", _entry("t1"), 1)
    cache.reset(4, "keys_changed")
    cache.listed({("students", "S1"): "t1"})
    cache.heard(4, whole=False)
    assert cache.get("students", "S1") is None and cache.token("students", "S1") is None
    cache.heard(4)
    assert cache.get("students", "S1").token == "t1"  # its token is still current: kept
    assert cache.resets == {"new_watcher": 1, "keys_changed": 1}


def test_a_reset_drops_the_entries_whose_token_the_snapshot_does_not_name():
    cache, _ = _cache()
    _live(cache, 1, S1="t1", S2="t2", S3="t3")
    for sid, token in (("S1", "t1"), ("S2", "t2"), ("S3", "t3")):
        cache.put("students", sid, _entry(token), 1)
    cache.reset(9, "position_unknown")
    cache.listed({("students", "S1"): "t1", ("students", "S2"): "t2-new"})
    cache.heard(9)
    assert cache.get("students", "S1").token == "t1"
    assert cache.get("students", "S2") is None and cache.token("students", "S2") == "t2-new"
    assert cache.get("students", "S3") is None and cache.token("students", "S3") is None
    assert cache.bytes == _entry("t1").size


def test_an_answer_older_than_the_stream_is_not_kept():
    cache, _ = _cache()
    _live(cache, 10)
    assert cache.put("students", "S1", _entry(), sequence=9) is False
    assert cache.get("students", "S1") is None


def test_an_answer_for_a_token_the_stream_replaced_is_not_kept():
    cache, _ = _cache()
    _live(cache, 1, S1="t2")
    assert cache.put("students", "S1", _entry("t1"), sequence=1) is False
    assert cache.put("students", "S1", _entry("t2"), sequence=1) is True


def test_a_change_carries_the_new_token_and_drops_only_its_subject():
    cache, _ = _cache()
    _live(cache, 1, S1="a", S2="b")
    cache.put("students", "S1", _entry("a"), 1)
    cache.put("students", "S2", _entry("b"), 1)
    cache.put("stalls", "S1", _entry("c"), 1)
    cache.changed([("students", "S1"), ("students", "S2")], {("students", "S1"): "a2"})
    cache.heard(2)
    assert cache.get("students", "S1") is None and cache.token("students", "S1") == "a2"
    assert cache.get("students", "S2") is None and cache.token("students", "S2") is None
    assert cache.get("stalls", "S1").token == "c"  # same id, other kind: untouched
    assert cache.sequence == cache.position == 2


def test_a_change_that_keeps_the_token_keeps_the_entry():
    cache, _ = _cache()
    _live(cache, 1, S1="a")
    cache.put("students", "S1", _entry("a"), 1)
    cache.changed([("students", "S1")], {("students", "S1"): "a"})  # a renamed subject
    cache.heard(2)
    assert cache.get("students", "S1").token == "a"


def test_a_silent_or_broken_stream_stops_serving_but_keeps_entries_to_resume_with():
    cache, clock = _cache()
    _live(cache, 1, S1="t1")
    cache.put("students", "S1", _entry(), 1)
    clock.now += STALE_AFTER_SECONDS - 0.1
    assert cache.get("students", "S1") is not None
    clock.now += 0.2  # no heartbeat for longer than the bound
    assert cache.get("students", "S1") is None and cache.token("students", "S1") is None
    assert len(cache) == 1
    cache.disconnected()
    assert cache.get("students", "S1") is None and not cache.live
    assert cache.position == 1  # where the stream resumes from
    cache.changed([], {})  # the resumed stream: nothing changed meanwhile
    cache.heard(1)
    assert cache.get("students", "S1").token == "t1"
    assert cache.resets == {"new_watcher": 1}


def test_own_writes_raise_the_floor_and_drop_the_subject_but_not_the_resume_point():
    cache, _ = _cache()
    _live(cache, 1, S1="t1", S2="t2")
    cache.put("students", "S1", _entry(), 1)
    cache.put("students", "S2", _entry("t2"), 1)
    cache.wrote("students", "S1", 7)
    assert cache.get("students", "S1") is None and cache.token("students", "S1") is None
    assert cache.put("students", "S1", _entry(), 6) is False  # a replica that was behind
    assert cache.put("students", "S1", _entry(), 7) is True
    cache.wrote("students", None, 8)  # an import changes no current token: nothing dropped
    assert len(cache) == 2 and cache.sequence == 8
    assert cache.position == 1  # the stream has not delivered 2..8 yet


def test_the_size_bound_evicts_least_recently_used_first():
    entry_size = _entry().size
    cache, _ = _cache(max_bytes=entry_size * 3)
    _live(cache)
    for i in range(3):
        cache.put("students", f"S{i}", _entry(f"t{i}"), 1)
    cache.get("students", "S0")  # S0 is now the most recent
    cache.put("students", "S3", _entry("t3"), 1)
    assert cache.get("students", "S1") is None
    assert cache.get("students", "S0") is not None
    assert cache.bytes <= cache.max_bytes


def test_a_fill_keeps_current_tokens_only_and_never_evicts():
    entry_size = _entry().size
    cache, _ = _cache(max_bytes=entry_size * 2)
    _live(cache, 1, S0="t0", S1="t1", S2="t2")
    assert [key for key, _ in cache.unfilled()] == [("students", f"S{i}") for i in range(3)]
    assert cache.fill(("students", "S0"), _entry("old")) is False  # replaced meanwhile
    assert cache.fill(("students", "S0"), _entry("t0")) is True
    assert cache.fill(("students", "S1"), _entry("t1")) is True
    assert cache.fill(("students", "S2"), _entry("t2")) is False  # no room: S0, S1 stay
    assert len(cache) == 2 and cache.unfilled() == [(("students", "S2"), "t2")]
    assert not cache.has_room(entry_size)


def test_zero_bytes_turns_it_off():
    cache, _ = _cache(max_bytes=0)
    _live(cache)
    assert cache.put("students", "S1", _entry(), 1) is False


def test_the_json_body_is_the_contract_shape_and_an_entry_costs_its_bytes():
    entry = _entry("tok")
    body = json.loads(entry.json_body)
    assert body["success"] is True and body["qr_token"] == "tok" and body["cached"] is True
    assert body["qr_image"].startswith("data:image/png;base64,")
    assert json.loads(pass_body("tok", entry.png, cached=False))["cached"] is False
    assert gzip.decompress(entry.json_gzip) == entry.json_body
    assert entry.size == ENTRY_OVERHEAD_BYTES + len("tok") + len(entry.png) + len(entry.etag)


def test_a_default_pass_counts_at_most_2_5_kb():
    """A real token and PNG at default options, as the issue bounds them (2,560 bytes)."""
    from image_service.render import RenderOptions, render

    token = "eyJhbGciOiJFZERTQSIsImtpZCI6ImRldjI2MTIwMjEwMzEifQ." + "e" * 170 + "." + "s" * 86
    entry = Entry(token, render(token, RenderOptions()), '"' + "0" * 32 + "-" + "0" * 16 + '"')
    assert entry.size <= 2560, entry.size


def test_what_an_entry_counts_covers_the_memory_python_holds_for_it():
    import tracemalloc

    cache, _ = _cache()
    _live(cache)
    pngs = [bytes([i % 256]) * 1300 for i in range(2000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, png in enumerate(pngs):  # the token and PNG arrive from gRPC: they are new objects
        cache.put(
            "students",
            f"S{i:05d}",
            Entry(f"{i:05d}" + "t" * 252, bytes(bytearray(png)), f'"{i}"'),
            1,
        )
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held <= cache.bytes, (held, cache.bytes)
