"""The revocation list for offline scanners: a JWS, signed by the active key, of the subjects whose
older passes no longer verify (rotated, deleted, re-imported), whole or since a cursor.

The cursor is a change-log position. It is read before the subjects are, so a change made while
the list is built is in this list or in the next one, never in neither.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import jwt

from token_service.errors import InvalidRequest
from token_service.keys import KeyRing
from token_service.paging import decode_page_token, encode_page_token
from token_service.store import SubjectStore

_SEQUENCE = re.compile(r"[0-9]{1,18}")
_CURSOR_LISTING = "revocations"


@dataclass(frozen=True)
class SignedList:
    jws: str
    cursor: str
    full: bool
    count: int


def encode_cursor(sequence: int) -> str:
    return encode_page_token(_CURSOR_LISTING, str(sequence))


def decode_cursor(cursor: str) -> int:
    try:
        return int(decode_page_token(_CURSOR_LISTING, cursor, _SEQUENCE))
    except InvalidRequest:
        raise InvalidRequest("since is not a cursor from /v1/revocations") from None


class RevocationList:
    """Builds and signs the list; the whole list is kept until the change log or the key moves."""

    def __init__(self, store: SubjectStore, keyring: KeyRing) -> None:
        self._store = store
        self._keyring = keyring
        self._full: tuple[tuple[int, str], SignedList] | None = None

    def signed(self, since: str = "") -> SignedList:
        after = decode_cursor(since) if since else None
        sequence = self._store.last_sequence()
        if after is not None and after > sequence:
            after = None  # a cursor from a database since restored: start over with the whole list
        key = self._keyring.active
        if after is None and self._full is not None and self._full[0] == (sequence, key.kid):
            return self._full[1]
        revoked = self._store.revoked(after)
        cursor = encode_cursor(sequence)
        payload = {
            "cursor": cursor,
            "full": after is None,
            "revocations": [
                {"kind": kind, "subject_id": subject_id, "min_version": version}
                for kind, subject_id, version in revoked
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        # The header is the pass tokens' (alg and kid, no typ): one verification path for both.
        jws = jwt.api_jws.encode(
            body, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": None}
        )
        result = SignedList(jws, cursor, after is None, len(revoked))
        if after is None:
            self._full = ((sequence, key.kid), result)
        return result
