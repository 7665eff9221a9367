"""ImportSubjects, ListTokens and DeleteSubject against real SQLite and PostgreSQL."""

from __future__ import annotations

import io

import grpc
import openpyxl
import pytest

from qrpass.token.v1 import token_service_pb2 as pb
from tests.conftest import STALL, STUDENT, students_csv


def _all_ids(client, kind: int = STUDENT, page_size: int = 1000) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = client.stub.ListTokens(
            pb.ListTokensRequest(kind=kind, page_size=page_size, page_token=token)
        )
        ids += [entry.subject.id for entry in page.subject_tokens]
        assert all(entry.token for entry in page.subject_tokens)
        token = page.next_page_token
        if not token:
            return ids


def test_import_creates_updates_and_counts(start_token_service, backend) -> None:
    client = start_token_service(backend)
    first = client.import_csv(students_csv(10))
    assert (first.created, first.updated, first.unchanged) == (10, 0, 0)
    changed = students_csv(12).replace(b"Student 3,", b"Student Three,")
    second = client.import_csv(changed)
    assert (second.created, second.updated, second.unchanged) == (2, 1, 9)
    verdict = client.verify(client.issue("S00003").token)
    assert verdict.subject.name == "Student Three"


def test_bad_rows_are_reported_and_nothing_is_written(start_token_service, backend) -> None:
    client = start_token_service(backend)
    client.import_csv(students_csv(2))
    bad = (
        b"id,registration_no,name,email,extra\n"
        b"S00001,R1,Renamed,s1@campus.edu,ignored\n"
        b"NEW1,R9,New,new@campus.edu,x\n"
        b"bad id!,R2,Name,a@b.io,x\n"
        b"S00003,,Name,not-an-email,x\n"
        b"NEW1,R10,Dup,dup@campus.edu,x\n"
    )
    response = client.import_csv(bad)
    assert (response.created, response.updated) == (0, 0)
    problems = {(e.line, e.field) for e in response.errors}
    assert problems == {(4, "id"), (5, "registration_no"), (5, "email"), (6, "id")}
    assert any("duplicate" in e.reason and "line 3" in e.reason for e in response.errors)
    assert sorted(_all_ids(client)) == ["S00001", "S00002"]  # NEW1 was not written
    assert client.verify(client.issue("S00001").token).subject.name == "Student 1"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"id,name\nS1,Ann\n", "registration_no"),
        (b"id,registration_no,name,email\n", "no data rows"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"PK\x03\x04not really a zip", "zip"),
    ],
)
def test_unreadable_files_are_invalid_argument(start_token_service, content, words) -> None:
    client = start_token_service()
    with pytest.raises(grpc.RpcError) as raised:
        client.import_csv(content)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in raised.value.details()


def test_the_row_cap_is_the_token_services_setting(start_token_service) -> None:
    client = start_token_service(QRPASS_IMPORT_MAX_ROWS="5")
    assert client.import_csv(students_csv(5)).created == 5
    with pytest.raises(grpc.RpcError) as raised:
        client.import_csv(students_csv(6))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than 5 rows" in raised.value.details()
    assert "QRPASS_IMPORT_MAX_ROWS" in raised.value.details()
    assert len(_all_ids(client)) == 5


def test_xlsx_import(start_token_service) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "stall_number", "name"])
    sheet.append(["T1", 101, "Tea"])  # a number cell becomes the text "101"
    sheet.append(["T2", "B-2", "Books"])
    buffer = io.BytesIO()
    book.save(buffer)
    client = start_token_service()
    response = client.import_csv(buffer.getvalue(), STALL)
    assert response.created == 2
    verdict = client.verify(client.issue("T1", STALL).token)
    assert verdict.subject.stall_number == "101"


def test_pagination_over_25000_subjects(start_token_service, backend) -> None:
    client = start_token_service(backend)
    response = client.stub.ImportSubjects(
        pb.ImportSubjectsRequest(kind=STUDENT, content=students_csv(25_000)), timeout=120
    )
    assert response.created == 25_000
    first = client.stub.ListTokens(pb.ListTokensRequest(kind=STUDENT, page_size=5000))
    assert len(first.subject_tokens) == 1000  # page_size is coerced to the maximum
    assert first.total_size == 25_000
    ids = _all_ids(client)
    assert len(ids) == 25_000 == len(set(ids))
    assert ids == sorted(ids)
    assert _all_ids(client, STALL) == []


def test_foreign_page_token_is_invalid_argument(start_token_service) -> None:
    client = start_token_service()
    client.import_csv(students_csv(3))
    page = client.stub.ListTokens(pb.ListTokensRequest(kind=STUDENT, page_size=1))
    for token, kind in ((page.next_page_token, STALL), ("not-base64!", STUDENT)):
        with pytest.raises(grpc.RpcError) as raised:
            client.stub.ListTokens(pb.ListTokensRequest(kind=kind, page_token=token))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_delete_unknown_subject_is_not_found(start_token_service) -> None:
    client = start_token_service()
    with pytest.raises(grpc.RpcError) as raised:
        client.stub.DeleteSubject(pb.DeleteSubjectRequest(kind=STUDENT, subject_id="ghost"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        client.stub.DeleteSubject(pb.DeleteSubjectRequest(kind=0, subject_id="ghost"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_imports_of_the_same_new_ids_on_two_replicas_are_serialized(
    two_replicas,
) -> None:
    """Two replicas on one PostgreSQL import the same new subjects at once: no IntegrityError."""
    from concurrent.futures import ThreadPoolExecutor

    first, second = two_replicas
    content = students_csv(3000, start=1, prefix="C")
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda c: c.import_csv(content), [first, second] * 3))
    assert sum(r.created for r in replies) == 3000
    assert all(r.created + r.unchanged == 3000 and not r.errors for r in replies)
    assert len(_all_ids(second)) == 3000


def test_hostile_spreadsheets_do_not_hold_up_issuing_and_verifying(start_token_service) -> None:
    """Eight padded XLSX uploads at once (the issue's recipe) while passes are issued."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.unit.test_importer import _padded_xlsx

    client = start_token_service()
    client.import_csv(students_csv(5))
    padded = _padded_xlsx()
    with ThreadPoolExecutor(8) as pool:
        uploads = [pool.submit(client.import_csv, padded) for _ in range(8)]
        for _ in range(50):
            issued = client.stub.IssueToken(
                pb.IssueTokenRequest(kind=STUDENT, subject_id="S00002"), timeout=1
            )
            assert client.stub.VerifyToken(
                pb.VerifyTokenRequest(token=issued.token), timeout=1
            ).valid
        for upload in uploads:
            with pytest.raises(grpc.RpcError) as refused:
                upload.result(timeout=120)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "blank ones included" in refused.value.details()
