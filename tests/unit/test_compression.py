"""Accept-Encoding negotiation."""

from __future__ import annotations

import gzip

import pytest

from gateway.compression import MIN_COMPRESS_BYTES, accepts_gzip, negotiate


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("GZIP", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*", True),
        ("*;q=0", False),
        ("identity", False),
        ("deflate, x-gzip", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_gzip(header, gzip_ok) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_negotiate_compresses_only_bodies_worth_it() -> None:
    big = b"x" * MIN_COMPRESS_BYTES
    body, headers = negotiate(big, "gzip")
    assert headers == {"Vary": "Accept-Encoding", "Content-Encoding": "gzip"}
    assert gzip.decompress(body) == big
    assert negotiate(big[:-1], "gzip") == (big[:-1], {"Vary": "Accept-Encoding"})
    assert negotiate(big, None) == (big, {"Vary": "Accept-Encoding"})
