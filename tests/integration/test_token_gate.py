"""CheckIn, BatchCheckIn, ListScans, PruneScans and ListRevocations on real SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from qrpass.token.v1 import token_service_pb2 as pb
from tests.conftest import STALL, STUDENT, RunningTokenService, stalls_csv, students_csv
from tests.support.metrics import value

IN, OUT = pb.DIRECTION_IN, pb.DIRECTION_OUT


def _at(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _check_in(
    client: RunningTokenService, token: str, gate: str = "A", direction: int = IN, **fields
):
    return client.stub.CheckIn(
        pb.CheckInRequest(token=token, gate=gate, direction=direction, **fields)
    )


def _admission(reply: pb.CheckInResponse) -> str:
    return pb.Admission.Name(reply.admission).removeprefix("ADMISSION_").lower()


def _scans(client: RunningTokenService, **fields) -> list[pb.Scan]:
    scans, token = [], ""
    while True:
        page = client.stub.ListScans(pb.ListScansRequest(page_size=3, page_token=token, **fields))
        scans += page.scans
        token = page.next_page_token
        if not token:
            return scans


def _inside(client: RunningTokenService) -> dict[int, int]:
    return {c.kind: c.count for c in client.stub.ListScans(pb.ListScansRequest()).inside}


@pytest.fixture
def gate(start_token_service, backend) -> RunningTokenService:
    client = start_token_service(backend)
    client.import_csv(students_csv(30))
    client.import_csv(stalls_csv(3), STALL)
    return client


def test_entry_exit_reentry_and_a_second_person_on_one_pass(gate) -> None:
    token = gate.issue("S00001").token
    first = _check_in(gate, token, "A")
    assert _admission(first) == "admitted"
    assert first.verification.valid and first.verification.subject.registration_no == "R0000001"
    assert first.entered.gate == "A"
    second = _check_in(gate, token, "B")  # the screenshot passed back over the fence
    assert _admission(second) == "already_inside"
    assert (second.entered.gate, second.entered.at) == ("A", first.entered.at)
    assert _admission(_check_in(gate, token, "B", OUT)) == "exited"
    assert _admission(_check_in(gate, token, "B", OUT)) == "not_inside"
    assert _admission(_check_in(gate, token, "C")) == "admitted"
    assert _inside(gate) == {STUDENT: 1, STALL: 0}
    metrics = f"http://127.0.0.1:{gate.service.metrics_port}/metrics"
    assert value(metrics, "qrpass_inside", kind="student") == 1  # read from the ledger
    assert value(metrics, "qrpass_inside", kind="stall") == 0
    assert value(metrics, "qrpass_token_checkins_total", admission="admitted") == 2
    assert value(metrics, "qrpass_token_checkins_total", admission="not_inside") == 1
    ledger = _scans(gate, subject_id="S00001")
    assert [pb.Admission.Name(s.admission) for s in ledger] == [
        "ADMISSION_ADMITTED", "ADMISSION_ALREADY_INSIDE", "ADMISSION_EXITED",
        "ADMISSION_NOT_INSIDE", "ADMISSION_ADMITTED",
    ]  # fmt: skip
    assert [s.gate for s in ledger] == ["A", "B", "B", "B", "C"]
    inside = _scans(gate, inside=True)
    assert [(s.subject_id, s.gate) for s in inside] == [("S00001", "C")]


def test_invalid_passes_are_rejected_and_never_count_as_entries(gate) -> None:
    old = gate.issue("S00002").token
    gate.rotate("S00002")
    reply = _check_in(gate, old)
    assert _admission(reply) == "rejected"
    assert reply.verification.failure_reason == pb.FAILURE_REASON_REVOKED
    assert not reply.HasField("entered")
    assert _admission(_check_in(gate, "not.a.token")) == "rejected"
    assert _inside(gate)[STUDENT] == 0
    rejected = _scans(gate, subject_id="S00002")
    assert [s.failure_reason for s in rejected] == [pb.FAILURE_REASON_REVOKED]
    fresh = gate.issue("S00002").token
    assert _admission(_check_in(gate, fresh)) == "admitted"  # the rejection did not count


def test_a_scan_id_makes_check_in_idempotent(gate) -> None:
    token = gate.issue("S00003").token
    first = _check_in(gate, token, "A", scan_id="scan-1")
    again = _check_in(gate, token, "A", scan_id="scan-1")
    assert _admission(first) == _admission(again) == "admitted"
    assert again.replayed and not first.replayed
    assert again.entered == first.entered and again.scanned_at == first.scanned_at
    assert len(_scans(gate, subject_id="S00003")) == 1
    assert _admission(_check_in(gate, token, "A", scan_id="scan-2")) == "already_inside"


def test_concurrent_repeats_of_one_scan_id_record_it_once(gate) -> None:
    token = gate.issue("S00004").token
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: _check_in(gate, token, "A", scan_id="dup"), range(16)))
    assert {_admission(r) for r in replies} == {"admitted"}
    assert sum(not r.replayed for r in replies) == 1
    assert len(_scans(gate, subject_id="S00004")) == 1


def test_batch_applies_scans_in_time_order_and_reports_conflicts(gate) -> None:
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    token = gate.issue("S00005").token
    other = gate.issue("S00006").token

    def scan(scan_id: str, gate_name: str, minutes: int, direction: int = IN, t: str = token):
        return pb.CheckInRequest(token=t, gate=gate_name, direction=direction, scan_id=scan_id,
                                 scanned_at=_at(t0 + timedelta(minutes=minutes)))  # fmt: skip

    # Sent out of order: gate B saw the pass at 09:05, gate A at 09:02, then it left at 09:30.
    request = pb.BatchCheckInRequest(
        scans=[
            scan("b1", "B", 5),
            scan("x1", "A", 1, t=other),
            scan("a1", "A", 2),
            scan("a2", "A", 30, OUT),
        ]
    )
    results = gate.stub.BatchCheckIn(request).results
    assert [r.scan_id for r in results] == ["b1", "x1", "a1", "a2"]
    assert [_admission(r) for r in results] == ["already_inside", "admitted", "admitted", "exited"]
    assert results[0].entered.gate == "A"
    assert results[0].entered.at == _at(t0 + timedelta(minutes=2))
    assert len(_scans(gate, subject_id="S00005")) == 3  # both conflicting scans are in the ledger
    replay = gate.stub.BatchCheckIn(request).results  # an upload retried after a lost answer
    assert [_admission(r) for r in replay] == [_admission(r) for r in results]
    assert all(r.replayed for r in replay)
    assert len(_scans(gate, subject_id="S00005")) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gate": ""}, "gate must be"),
        ({"gate": "A\n"}, "gate must be"),
        ({"gate": "x" * 65}, "gate must be"),
        ({"scan_id": "has space"}, "scan_id must match"),
        ({"direction": 7}, "direction must be"),
        ({"token": ""}, "token is empty"),
    ],
)
def test_malformed_scans_are_invalid_argument(gate, fields, message) -> None:
    request = {"token": "x.y.z", "gate": "A", **fields}
    with pytest.raises(grpc.RpcError) as refused:
        gate.stub.CheckIn(pb.CheckInRequest(**request))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in refused.value.details()


def test_batch_limits(gate) -> None:
    token = gate.issue("S00007").token
    unstamped = pb.CheckInRequest(token=token, gate="A", scan_id="u1")
    too_many = [pb.CheckInRequest(token=token, gate="A", scan_id=f"s{i}",
                                  scanned_at=_at(datetime.now(UTC))) for i in range(1001)]  # fmt: skip
    for scans, message in (([unstamped], "scan_id and a scanned_at"), (too_many, "at most 1000")):
        with pytest.raises(grpc.RpcError) as refused:
            gate.stub.BatchCheckIn(pb.BatchCheckInRequest(scans=scans))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in refused.value.details()
    assert _scans(gate, subject_id="S00007") == []  # a refused batch records nothing


def test_prune_deletes_old_scans_and_keeps_who_is_inside(gate) -> None:
    old = datetime(2025, 1, 1, tzinfo=UTC)
    token = gate.issue("S00008").token
    _check_in(gate, token, "A", scan_id="old-1", scanned_at=_at(old))
    _check_in(gate, gate.issue("S00009").token, "A")
    reply = gate.stub.PruneScans(pb.PruneScansRequest(before=_at(old + timedelta(days=1))))
    assert reply.deleted == 1
    assert [s.subject_id for s in _scans(gate)] == ["S00009"]
    assert {s.subject_id for s in _scans(gate, inside=True)} == {"S00008", "S00009"}
    assert _admission(_check_in(gate, token, "B")) == "already_inside"


def _payload(signed: str) -> dict:
    segment = signed.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_revocation_list_is_signed_and_follows_a_cursor(gate) -> None:
    jwks = gate.stub.GetJwks(pb.GetJwksRequest())
    keys = KeySet.import_key_set(
        {
            "keys": [
                {"kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg}
                for k in jwks.keys
            ]
        }
    )
    empty = gate.stub.ListRevocations(pb.ListRevocationsRequest())
    assert empty.full and empty.count == 0
    gate.rotate("S00010")
    gate.rotate("S00010")
    gate.stub.DeleteSubject(pb.DeleteSubjectRequest(kind=STALL, subject_id="T001"))
    whole = gate.stub.ListRevocations(pb.ListRevocationsRequest())
    # A second JOSE library checks the signature against the JWKS, with the algorithm pinned.
    with warnings.catch_warnings():  # joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864)
        warnings.simplefilter("ignore", SecurityWarning)
        verified = jws.deserialize_compact(whole.signed_list, keys, algorithms=["EdDSA"])
    payload = json.loads(verified.payload)
    assert verified.protected == {"alg": "EdDSA", "kid": jwks.active_kid}
    assert payload["full"] is True and payload["cursor"] == whole.cursor
    assert payload["revocations"] == [
        {"kind": "student", "subject_id": "S00010", "min_version": 3},
        {"kind": "stall", "subject_id": "T001", "min_version": None},
    ]
    nothing_new = gate.stub.ListRevocations(pb.ListRevocationsRequest(since=whole.cursor))
    assert not nothing_new.full and _payload(nothing_new.signed_list)["revocations"] == []
    gate.rotate("S00011")
    gate.import_csv(stalls_csv(3), STALL)  # T001 comes back, with a higher version
    delta = gate.stub.ListRevocations(pb.ListRevocationsRequest(since=nothing_new.cursor))
    assert _payload(delta.signed_list)["revocations"] == [
        {"kind": "student", "subject_id": "S00011", "min_version": 2},
        {"kind": "stall", "subject_id": "T001", "min_version": 2},
    ]
    with pytest.raises(grpc.RpcError) as refused:
        gate.stub.ListRevocations(pb.ListRevocationsRequest(since="garbage"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cursor" in refused.value.details()


def test_two_gates_on_two_replicas_scanning_at_once_admit_exactly_once(two_replicas) -> None:
    """The issue's race: one pass at two gates at the same instant, on two replicas, many times."""
    first, second = two_replicas
    seen = first.import_csv(students_csv(60, prefix="R")).sequence
    tokens = [first.issue(f"R{i:05d}").token for i in range(1, 61)]
    for token in tokens:  # a first visit, so the race is on an existing presence row too
        assert _admission(_check_in(first, token, "A")) == "admitted"
        assert _admission(_check_in(second, token, "A", OUT, min_sequence=seen)) == "exited"
    with ThreadPoolExecutor(8) as pool:
        for token in tokens:
            calls = [
                pool.submit(_check_in, replica, token, name, min_sequence=seen)
                for replica, name in ((first, "A"), (second, "B"), (first, "C"), (second, "D"))
            ]
            answers = sorted(_admission(call.result()) for call in calls)
            assert answers == ["admitted"] + ["already_inside"] * 3, token[-8:]
    assert _inside(second)[STUDENT] == 60
