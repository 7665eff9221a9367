"""At the gate over HTTP: check-in with scanner keys, offline batches, the signed revocation list,
the ledger, the offline scanner of docs/scanners.md, and the CLI."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import httpx
import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import KeySet

from gateway.compression import MIN_COMPRESS_BYTES
from tests.support.services import ADMIN_KEY, CLIENT_KEY, SCANNER_KEY, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _token(stack, subject_id: str, kind: str = "students") -> str:
    reply = stack.get(f"/v1/{kind}/{subject_id}/qr")
    assert reply.status_code == 200, reply.text
    return reply.json()["qr_token"]


def _check_in(stack, key: str = SCANNER_KEY, **body) -> httpx.Response:
    return stack.request("POST", "/v1/checkins", key, json=body)


def test_a_scanner_key_checks_passes_in_and_out(stack) -> None:
    token = _token(stack, "S00001")
    first = _check_in(stack, token=token, gate="North")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["valid"] and body["admission"] == "admitted"
    assert (body["kind"], body["subject_id"], body["registration_no"]) == (
        "student", "S00001", "R0000001")  # fmt: skip
    assert body["entered"]["gate"] == "North" and body["error"] is None
    again = _check_in(stack, token=token, gate="South").json()
    assert again["admission"] == "already_inside"
    assert again["entered"] == body["entered"]  # "already checked in at 09:02, gate North"
    out = _check_in(stack, token=token, gate="South", direction="out").json()
    assert out["admission"] == "exited" and "entered" not in out
    assert _check_in(stack, CLIENT_KEY, token=token, gate="S").json()["admission"] == "admitted"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"gate": "A"}, "token must be"),
        ({"token": "x.y.z"}, "gate must be"),
        ({"token": "x.y.z", "gate": "A", "direction": "sideways"}, "direction must be"),
        ({"token": "x.y.z", "gate": "A", "scanned_at": "yesterday"}, "RFC 3339"),
        ({"token": "x.y.z", "gate": "A", "scanned_at": "2026-05-01T09:00:00"}, "RFC 3339"),
        ({"token": "x.y.z", "gate": "A", "scan_id": "a b"}, "scan_id must match"),
        ({"token": "x.y.z", "gate": "A", "scan_id": ""}, "scan_id must match"),
        ({"token": "x.y.z", "gate": "\u0007"}, "gate must be"),
        ({"token": "x.y.z", "gate": "A", "seat": 3}, "unknown field 'seat'"),
        ({"token": "x.y.z", "gate": "\udb4c"}, "lone UTF-16 surrogate"),
    ],
)
def test_malformed_scans_are_400_saying_what_is_wrong(stack, body, message) -> None:
    # json.dumps writes "\udb4c" as an escape, as a client in another language might.
    reply = stack.request("POST", "/v1/checkins", SCANNER_KEY, content=json.dumps(body),
                          headers={"Content-Type": "application/json"})  # fmt: skip
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["detail"]


def test_a_gate_named_with_an_emoji_is_fine(stack) -> None:
    """A surrogate pair in the JSON (an emoji) is text; only a lone surrogate is refused."""
    reply = _check_in(stack, token=_token(stack, "S00029"), gate="\U0001f6aa North")
    assert reply.status_code == 200, reply.text
    assert reply.json()["entered"]["gate"] == "\U0001f6aa North"


def test_scanner_keys_reach_the_gate_routes_and_nothing_of_admin(stack) -> None:
    assert stack.get("/v1/revocations", SCANNER_KEY).status_code == 200
    assert stack.get("/v1/jwks", SCANNER_KEY).status_code == 200
    for method, path in (("GET", "/v1/admin/scans"), ("DELETE", "/v1/admin/scans?before=x"),
                         ("GET", "/v1/students/S00001/qr")):  # fmt: skip
        assert stack.request(method, path, SCANNER_KEY).status_code == 403, path
    assert stack.request("POST", "/v1/checkins", None, json={}).status_code == 401
    assert stack.get("/v1/revocations", None).status_code == 401


def test_an_offline_batch_settles_a_pass_admitted_at_two_gates(stack) -> None:
    token = _token(stack, "S00002")
    scans = [
        {"token": token, "gate": "West", "direction": "in", "scan_id": "w-1",
         "scanned_at": "2026-05-01T09:05:00Z"},
        {"token": token, "gate": "East", "direction": "in", "scan_id": "e-1",
         "scanned_at": "2026-05-01T09:02:00+00:00"},
    ]  # fmt: skip
    reply = stack.request("POST", "/v1/checkins:batch", SCANNER_KEY, json={"scans": scans})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["scan_id"] for r in results] == ["w-1", "e-1"]  # the request's order
    assert [r["admission"] for r in results] == ["already_inside", "admitted"]  # time order
    assert results[0]["entered"] == {"at": "2026-05-01T09:02:00Z", "gate": "East"}
    ledger = stack.get("/v1/admin/scans?subject_id=S00002", ADMIN_KEY).json()["scans"]
    assert {(s["gate"], s["admission"]) for s in ledger} == {
        ("East", "admitted"), ("West", "already_inside")}  # fmt: skip
    too_many = {"scans": [scans[0]] * 1001}
    reply = stack.request("POST", "/v1/checkins:batch", SCANNER_KEY, json=too_many)
    assert reply.status_code == 400 and "at most 1000" in reply.json()["detail"]
    unstamped = {"scans": [{"token": token, "gate": "W", "scan_id": "u-1"}]}
    reply = stack.request("POST", "/v1/checkins:batch", SCANNER_KEY, json=unstamped)
    assert reply.status_code == 400 and "scanned_at" in reply.json()["detail"]


def test_the_ledger_lists_pages_and_who_is_inside(stack) -> None:
    for subject_id in ("S00010", "S00011", "S00012"):
        assert _check_in(stack, token=_token(stack, subject_id), gate="L").status_code == 200
    _check_in(stack, token=_token(stack, "S00012"), gate="L", direction="out")
    seen, page_token = [], ""
    while True:
        query = f"/v1/admin/scans?gate=L&page_size=2&page_token={page_token}"
        page = stack.get(query, ADMIN_KEY).json()
        seen += page["scans"]
        page_token = page["next_page_token"]
        if not page_token:
            break
    assert [(s["subject_id"], s["direction"]) for s in seen] == [
        ("S00010", "in"), ("S00011", "in"), ("S00012", "in"), ("S00012", "out")]  # fmt: skip
    inside = stack.get("/v1/admin/scans?inside=true&gate=L", ADMIN_KEY).json()
    assert [s["subject_id"] for s in inside["scans"]] == ["S00010", "S00011"]
    assert inside["inside"]["student"] >= 2 and set(inside["inside"]) == {"student", "stall"}
    assert stack.request("HEAD", "/v1/admin/scans", ADMIN_KEY).status_code == 200
    refused = stack.request("PUT", "/v1/admin/scans", ADMIN_KEY)
    assert refused.status_code == 405
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}
    for query, message in (("kind=students", "kind must be"), ("since=today", "RFC 3339"),
                           ("inside=yes", "inside must be"), ("page_size=-1", "whole number"),
                           ("colour=red", "unknown query parameter")):  # fmt: skip
        reply = stack.get(f"/v1/admin/scans?{query}", ADMIN_KEY)
        assert reply.status_code == 400 and message in reply.json()["detail"], query


def _jwks(stack) -> KeySet:
    return KeySet.import_key_set(stack.get("/v1/jwks", SCANNER_KEY).json())


def test_the_revocation_list_is_a_jws_verified_by_a_second_jose_library(stack) -> None:
    for number in [*range(3, 10), *range(13, 21)]:  # enough for a list worth compressing
        stack.request("POST", f"/v1/admin/students/S{number:05d}/qr:rotate", ADMIN_KEY)
    reply = stack.get("/v1/revocations", SCANNER_KEY, headers={"Accept-Encoding": "identity"})
    assert reply.headers["content-type"] == "application/jose"
    assert "content-encoding" not in reply.headers
    with warnings.catch_warnings():  # joserfc flags "EdDSA" as superseded by "Ed25519" (RFC 9864)
        warnings.simplefilter("ignore", SecurityWarning)
        verified = jws.deserialize_compact(reply.text, _jwks(stack), algorithms=["EdDSA"])
    payload = json.loads(verified.payload)
    assert payload["full"] is True
    assert {"kind": "student", "subject_id": "S00020", "min_version": 2} in payload["revocations"]
    header, _, signature = reply.text.split(".")
    emptied = base64.urlsafe_b64encode(json.dumps({**payload, "revocations": []}).encode())
    tampered = f"{header}.{emptied.decode().rstrip('=')}.{signature}"  # a list with S00020 removed
    with pytest.raises(BadSignatureError), warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        jws.deserialize_compact(tampered, _jwks(stack), algorithms=["EdDSA"])
    raw = httpx.get(f"{stack.url}/v1/revocations", headers={
        "Authorization": f"Bearer {SCANNER_KEY}", "Accept-Encoding": "gzip"})  # fmt: skip
    assert len(reply.content) > MIN_COMPRESS_BYTES
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert raw.text == reply.text  # httpx undoes the gzip
    later = stack.get(f"/v1/revocations?since={payload['cursor']}", SCANNER_KEY)
    assert later.status_code == 200
    bad = stack.get("/v1/revocations?since=nonsense", SCANNER_KEY)
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


def test_the_offline_scanner_of_the_guide_refuses_a_rotated_pass(stack) -> None:
    """docs/examples/offline_scanner.py end to end: rotate a subject, sync, old pass refused."""
    path = ROOT / "docs/examples/offline_scanner.py"
    spec = importlib.util.spec_from_file_location("offline_scanner", path)
    assert spec and spec.loader
    example = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = example  # dataclasses look their module up while being built
    spec.loader.exec_module(example)
    scanner = example.OfflineScanner(stack.url, SCANNER_KEY, "Offline-1")
    old, stall = _token(stack, "S00025"), _token(stack, "T005", "stalls")
    scanner.sync()
    assert scanner.check(old).admission == "admitted"
    assert scanner.check(old).admission == "already_inside"  # the same pass again, offline
    stack.request("POST", "/v1/admin/students/S00025/qr:rotate", ADMIN_KEY)
    stack.request("DELETE", "/v1/admin/stalls/T005", ADMIN_KEY)
    assert scanner.check(stall).ok  # not synced yet: the scanner cannot know
    scanner.sync()  # also uploads the three pending scans
    assert not scanner.pending
    refused = scanner.check(old, "out")
    assert (refused.ok, refused.reason) == (False, "revoked")
    deleted = scanner.check(stall)
    assert (deleted.ok, deleted.reason) == (False, "revoked")
    # The new pass: this device let its holder in before, so it says so; the server, which never
    # counted the old pass's scans (revoked when they arrived), admits.
    assert scanner.check(_token(stack, "S00025")).admission == "already_inside"
    assert scanner.check("eyJhbGciOiJub25lIn0.e30.").reason == "unknown_key"
    results = scanner.upload()
    assert [r["admission"] for r in results] == ["rejected", "rejected", "admitted", "rejected"]
    ledger = stack.get("/v1/admin/scans?gate=Offline-1", ADMIN_KEY).json()["scans"]
    assert len(ledger) == 7


def test_the_cli_checks_in_and_lists_scans(stack) -> None:
    token = _token(stack, "S00030")
    admitted = run_cli(["checkin", token, "--gate", "CLI"], stack.env, stack.workdir)
    assert admitted.returncode == 0, admitted.stderr
    assert admitted.stdout.startswith("admitted")
    again = run_cli(["checkin", token, "--gate", "CLI"], stack.env, stack.workdir)
    assert again.returncode == 1 and again.stdout.startswith("already_inside")
    assert "gate CLI" in again.stdout
    listed = run_cli(["scans", "--gate", "CLI"], stack.env, stack.workdir)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2
    assert all("student S00030" in line for line in listed.stdout.splitlines())
    inside = run_cli(["scans", "--inside", "--gate", "CLI"], stack.env, stack.workdir)
    assert [line.split()[2] for line in inside.stdout.splitlines()] == ["S00030"]
    out = run_cli(["checkin", token, "--gate", "CLI", "--out"], stack.env, stack.workdir)
    assert out.returncode == 0 and out.stdout.startswith("exited")
    pruned = run_cli(["scans", "prune", "--before", "2100-01-01"], stack.env, stack.workdir)
    assert pruned.returncode == 0 and "deleted" in pruned.stdout
    assert run_cli(["scans"], stack.env, stack.workdir).stdout == ""
    bad = run_cli(["scans", "prune", "--before", "soon"], stack.env, stack.workdir)
    assert bad.returncode == 2 and "DATE" in bad.stderr
