"""The pass book, the token service's domain logic, over an in-memory SQLite store: no process,
no gRPC. Issue, verify, rotate, delete, import and list, and the errors each refuses with."""

from __future__ import annotations

from pathlib import Path

import pytest

from token_service import keyfiles
from token_service.errors import InvalidRequest, SubjectNotFound
from token_service.index import SubjectIndex
from token_service.keys import KeyRing
from token_service.passes import PassBook
from token_service.store import Base, SubjectStore, create_db_engine
from token_service.tokens import Failure, TokenCodec

STUDENTS = (
    b"id,registration_no,name,email\nS1,R1,Ada,ada@x.edu\nS2,R2,Bo,bo@x.edu\nS3,R3,Cy,cy@x.edu\n"
)
STALLS = b"id,stall_number,name\nT1,A-01,Tea\n"


@pytest.fixture
def book(tmp_path: Path) -> PassBook:
    keys_dir = tmp_path / "keys"
    keyfiles.generate_key(keys_dir, "unit1")
    keyring = KeyRing(keys_dir)
    engine = create_db_engine("sqlite://")  # in memory: one connection, this thread's
    Base.metadata.create_all(engine)
    store = SubjectStore(engine)
    index = SubjectIndex(store)
    index.load()
    codec = TokenCodec(keyring, issuer="qrpass", audience="qrpass-gate")
    passes = PassBook(store, codec, keyring, index)
    assert passes.import_file("student", STUDENTS, "csv").counts is not None
    assert passes.import_file("stall", STALLS, "csv").counts is not None
    return passes


def test_an_issued_token_verifies_as_its_subject(book: PassBook) -> None:
    issued = book.issue("student", "S1")
    verdict = book.verify(issued.token)
    assert verdict.valid and verdict.failure is None
    assert (verdict.kind, verdict.subject_id, verdict.kid, verdict.version) == (
        "student", "S1", "unit1", 1,
    )  # fmt: skip
    assert verdict.subject is not None and verdict.subject.registration_no == "R1"


def test_the_same_token_comes_back_until_rotation(book: PassBook) -> None:
    first = book.issue("student", "S2")
    assert book.issue("student", "S2").token == first.token
    rotated = book.rotate("student", "S2")
    assert rotated.version == 2 and rotated.token != first.token
    assert book.issue("student", "S2").token == rotated.token


def test_a_rotated_token_is_revoked_and_its_successor_valid(book: PassBook) -> None:
    old = book.issue("student", "S1").token
    new = book.rotate("student", "S1").token
    assert book.verify(old).failure is Failure.REVOKED
    assert book.verify(new).valid


def test_a_deleted_subjects_token_is_subject_not_found(book: PassBook) -> None:
    token = book.issue("stall", "T1").token
    sequence = book.delete("stall", "T1")
    assert sequence > 0
    assert book.verify(token).failure is Failure.SUBJECT_NOT_FOUND
    with pytest.raises(SubjectNotFound):
        book.issue("stall", "T1")
    with pytest.raises(SubjectNotFound):
        book.delete("stall", "T1")


def test_the_expected_kind_is_enforced(book: PassBook) -> None:
    stall = book.issue("stall", "T1").token
    assert book.verify(stall, "student").failure is Failure.WRONG_KIND
    assert book.verify(stall, "stall").valid


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "...", "x.y"])
def test_garbage_is_malformed_not_an_error(book: PassBook, token: str) -> None:
    assert book.verify(token).failure is Failure.MALFORMED


def test_alg_none_without_a_kid_finds_no_key_to_trust(book: PassBook) -> None:
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJTMSIsImtpbmQiOiJzdHVkZW50IiwidmVyIjoxfQ."
    assert book.verify(unsigned).failure is Failure.UNKNOWN_KEY


def test_a_tampered_signature_is_refused(book: PassBook) -> None:
    token = book.issue("student", "S3").token
    head, body, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    assert book.verify(f"{head}.{body}.{flipped}{signature[1:]}").failure is Failure.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("token", "message"), [("", "empty"), ("x" * 4097, "longer than 4096 bytes")]
)
def test_empty_and_oversized_tokens_are_invalid_requests(
    book: PassBook, token: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        book.verify(token)


@pytest.mark.parametrize(
    ("kind", "subject_id", "message"),
    [
        ("teacher", "S1", "kind must be student or stall"),
        ("student", "S 1", "subject_id must match"),
        ("student", "", "subject_id must match"),
        ("student", "x" * 65, "subject_id must match"),
    ],
)
def test_bad_subjects_are_invalid_requests(
    book: PassBook, kind: str, subject_id: str, message: str
) -> None:
    for call in (book.issue, book.rotate, book.delete):
        with pytest.raises(InvalidRequest, match=message):
            call(kind, subject_id)


def test_an_unknown_subject_is_not_found(book: PassBook) -> None:
    with pytest.raises(SubjectNotFound, match="S99"):
        book.issue("student", "S99")
    with pytest.raises(SubjectNotFound):
        book.rotate("student", "S99")


def test_an_import_with_a_bad_row_writes_nothing(book: PassBook) -> None:
    bad = b"id,registration_no,name,email\nS7,R7,Eve,eve@x.edu\nS 8,R8,Fay,fay@x.edu\n"
    result = book.import_file("student", bad, "csv")
    assert result.counts is None
    assert [(p.line, p.field) for p in result.problems] == [(3, "id")]
    with pytest.raises(SubjectNotFound):
        book.issue("student", "S7")


def test_a_reimport_counts_what_changed(book: PassBook) -> None:
    changed = STUDENTS.replace(b"Bo,", b"Bob,") + b"S4,R4,Di,di@x.edu\n"
    counts = book.import_file("student", changed, "csv").counts
    assert counts is not None
    assert (counts.created, counts.updated, counts.unchanged) == (1, 1, 2)


def test_listing_pages_through_every_subject_in_id_order(book: PassBook) -> None:
    first = book.list("student", 2, "")
    assert [s.id for s in first.subjects] == ["S1", "S2"] and first.total_size == 3
    second = book.list("student", 2, first.next_page_token)
    assert [s.id for s in second.subjects] == ["S3"] and second.next_page_token == ""
    assert all(book.verify(s.token or "").valid for s in first.subjects + second.subjects)


def test_a_page_token_from_another_kind_is_refused(book: PassBook) -> None:
    token = book.list("student", 1, "").next_page_token
    with pytest.raises(InvalidRequest):
        book.list("stall", 1, token)


def test_the_jwks_names_the_active_key(book: PassBook) -> None:
    keys, active = book.jwks()
    assert active == "unit1"
    assert [key["kid"] for key in keys] == ["unit1"]
    assert all("d" not in key for key in keys)  # public members only
