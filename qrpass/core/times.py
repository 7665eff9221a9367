"""RFC 3339 times, as the APIs take them: with their offset, into protobuf Timestamps."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(text: str) -> Timestamp:
    """`2026-05-01T09:02:00Z` or `...+02:00` as a Timestamp; ValueError without an offset."""
    moment = datetime.fromisoformat(text.upper())
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    stamp = Timestamp()
    try:
        stamp.FromDatetime(moment)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
    return stamp
