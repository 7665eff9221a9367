"""TokenCodec on its own: round trips, and properties over arbitrary and mutated input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from token_service import keyfiles
from token_service.keys import KeyRing
from token_service.tokens import Failure, TokenCodec


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> TokenCodec:
    keys_dir: Path = tmp_path_factory.mktemp("keys")
    keyfiles.generate_key(keys_dir, "unit1")
    return TokenCodec(KeyRing(keys_dir), issuer="qrpass", audience="qrpass-gate")


def test_round_trip(codec: TokenCodec) -> None:
    token, kid = codec.sign("stall", "T-1", 3, now=1_700_000_000)
    decoded = codec.decode(token)
    assert decoded.failure is None and decoded.claims is not None
    assert (decoded.claims.kind, decoded.claims.subject_id, decoded.claims.version) == (
        "stall",
        "T-1",
        3,
    )
    assert decoded.claims.kid == kid == "unit1"


def test_signing_is_deterministic(codec: TokenCodec) -> None:
    assert codec.sign("student", "S1", 1, now=1) == codec.sign("student", "S1", 1, now=1)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_arbitrary_input_gets_a_clean_verdict(codec: TokenCodec, text: str) -> None:
    decoded = codec.decode(text)
    assert decoded.claims is None
    assert isinstance(decoded.failure, Failure)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_mutated_token_never_verifies(codec: TokenCodec, data: st.DataObject) -> None:
    token, _ = codec.sign("student", "S00042", 1, now=1_700_000_000)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    mutated = token[:position] + replacement + token[position + 1 :]
    decoded = codec.decode(mutated)
    if mutated == token:
        assert decoded.failure is None
        return
    # base64url's last character can carry unused bits, so a few edits decode to the same bytes.
    if decoded.failure is None:
        assert decoded.claims is not None and (
            decoded.claims.subject_id,
            decoded.claims.version,
        ) == ("S00042", 1)
        import base64

        def raw(t: str) -> list[bytes]:
            return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in t.split(".")]

        assert raw(mutated) == raw(token)
    else:
        assert decoded.claims is None
