"""VerifyToken against a real token service on SQLite and PostgreSQL: every verdict, by reason."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from qrpass.token.v1 import token_service_pb2 as pb
from tests.conftest import LEGACY_SECRET, STALL, STUDENT, RunningTokenService
from token_service import keyfiles
from token_service.tokens import legacy_checksum

R = pb.FailureReason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _active_private_key(keys_dir: Path):
    kid = keyfiles.read_active(keys_dir) or max(keyfiles.list_kids(keys_dir))
    pem = (keys_dir / f"{kid}.pem").read_bytes()
    return kid, serialization.load_pem_private_key(pem, password=None)


def _claims(**overrides: object) -> dict[str, object]:
    claims = {"sub": "S00001", "kind": "student", "ver": 1, "iat": int(time.time()),
              "iss": "qrpass", "aud": "qrpass-gate"}  # fmt: skip
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hand_signed(header: dict[str, object], claims: dict[str, object], key) -> str:
    """A token built by hand, for headers PyJWT refuses to write."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def _sign_as_service(client: RunningTokenService, **overrides: object) -> str:
    kid, key = _active_private_key(client.keys_dir)
    return jwt.encode(_claims(**overrides), key, algorithm="EdDSA", headers={"kid": kid})


def test_issued_token_verifies_with_identity(token_service: RunningTokenService) -> None:
    issued = token_service.issue("S00003")
    verdict = token_service.verify(issued.token, STUDENT)
    assert verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_UNSPECIFIED
    assert verdict.subject.id == "S00003"
    assert verdict.subject.registration_no == "R0000003"
    assert verdict.subject.name == "Student 3"
    assert verdict.kid == issued.kid


def test_stall_token_carries_stall_number(token_service: RunningTokenService) -> None:
    verdict = token_service.verify(token_service.issue("T002", STALL).token)
    assert verdict.valid
    assert verdict.subject.kind == STALL
    assert (verdict.subject.stall_number, verdict.subject.name) == ("A-2", "Stall 2")


def test_same_bytes_until_rotation(token_service: RunningTokenService) -> None:
    first = token_service.issue("S00004").token
    assert token_service.issue("S00004").token == first
    rotated = token_service.rotate("S00004")
    assert rotated.token != first
    assert rotated.version == 2
    assert token_service.issue("S00004").token == rotated.token


def test_token_claims_and_header(token_service: RunningTokenService) -> None:
    token = token_service.issue("S00005").token
    header = json.loads(_unb64(token.split(".")[0]))
    payload = json.loads(_unb64(token.split(".")[1]))
    assert header == {"alg": "EdDSA", "kid": header["kid"]}
    assert set(payload) == {"sub", "kind", "ver", "iat", "iss", "aud"}
    assert (payload["sub"], payload["kind"], payload["ver"]) == ("S00005", "student", 1)
    assert len(token) < 280  # short tokens give small, fast-scanning QR symbols


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_tampering_any_segment_is_rejected(
    token_service: RunningTokenService, segment: int
) -> None:
    parts = token_service.issue("S00006").token.split(".")
    if segment == 0:
        parts[0] = _b64(json.dumps({"alg": "EdDSA", "kid": json.loads(_unb64(parts[0]))["kid"],
                                    "x": 1}).encode())  # fmt: skip
    elif segment == 1:
        payload = json.loads(_unb64(parts[1]))
        payload["sub"] = "S00007"
        parts[1] = _b64(json.dumps(payload).encode())
    else:
        signature = bytearray(_unb64(parts[2]))
        signature[10] ^= 0x01
        parts[2] = _b64(bytes(signature))
    verdict = token_service.verify(".".join(parts))
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_BAD_SIGNATURE


def test_alg_none_is_rejected(token_service: RunningTokenService) -> None:
    kid = json.loads(_unb64(token_service.issue("S00001").token.split(".")[0]))["kid"]
    header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    verdict = token_service.verify(token)
    assert not verdict.valid
    assert verdict.failure_reason in (R.FAILURE_REASON_BAD_SIGNATURE, R.FAILURE_REASON_MALFORMED)


def test_hs256_forged_with_public_key_is_rejected(token_service: RunningTokenService) -> None:
    kid, key = _active_private_key(token_service.keys_dir)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    body = _b64(json.dumps(_claims()).encode())
    import hashlib
    import hmac

    for secret in (public_pem, key.public_key().public_bytes_raw()):
        signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        verdict = token_service.verify(f"{header}.{body}.{_b64(signature)}")
        assert not verdict.valid
        assert verdict.failure_reason == R.FAILURE_REASON_BAD_SIGNATURE


@pytest.mark.parametrize("kid", ["nope", "../../etc/passwd", "/dev/null", "a" * 65, ""])
def test_unknown_or_pathlike_kid_is_unknown_key(
    token_service: RunningTokenService, kid: object
) -> None:
    _, key = _active_private_key(token_service.keys_dir)
    token = _hand_signed({"alg": "EdDSA", "kid": kid}, _claims(), key)
    verdict = token_service.verify(token)
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_UNKNOWN_KEY


def test_non_string_kid_is_malformed(token_service: RunningTokenService) -> None:
    _, key = _active_private_key(token_service.keys_dir)
    verdict = token_service.verify(_hand_signed({"alg": "EdDSA", "kid": 7}, _claims(), key))
    assert verdict.failure_reason == R.FAILURE_REASON_MALFORMED


def test_stall_token_offered_as_student_is_wrong_kind(token_service: RunningTokenService) -> None:
    token = token_service.issue("T001", STALL).token
    verdict = token_service.verify(token, STUDENT)
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_WRONG_KIND
    assert token_service.verify(token, STALL).valid


def test_rotated_token_is_revoked(token_service: RunningTokenService) -> None:
    old = token_service.issue("S00008").token
    new = token_service.rotate("S00008").token
    verdict = token_service.verify(old)
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_REVOKED
    assert verdict.subject.id == "S00008"
    assert token_service.verify(new).valid


def test_expired_token_is_expired(token_service: RunningTokenService) -> None:
    token = _sign_as_service(
        token_service, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
    )
    verdict = token_service.verify(token)
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_EXPIRED


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "someone-else"}, {"aud": "another-gate"}, {"kind": "teacher"}, {"ver": "1"},
     {"sub": None}, {"sub": "../x"}],
)  # fmt: skip
def test_wrong_issuer_audience_or_claims_are_malformed(
    token_service: RunningTokenService, overrides
) -> None:
    verdict = token_service.verify(_sign_as_service(token_service, **overrides))
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_MALFORMED


def test_deleted_subject_is_subject_not_found(token_service: RunningTokenService) -> None:
    token = token_service.issue("S00009").token
    token_service.stub.DeleteSubject(pb.DeleteSubjectRequest(kind=STUDENT, subject_id="S00009"))
    verdict = token_service.verify(token)
    assert not verdict.valid
    assert verdict.failure_reason == R.FAILURE_REASON_SUBJECT_NOT_FOUND
    with pytest.raises(grpc.RpcError) as raised:
        token_service.issue("S00009")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_reimported_subject_keeps_old_pass_revoked(token_service: RunningTokenService) -> None:
    old = token_service.issue("S00010").token
    token_service.stub.DeleteSubject(pb.DeleteSubjectRequest(kind=STUDENT, subject_id="S00010"))
    from tests.conftest import students_csv

    token_service.import_csv(students_csv(1, start=10))
    assert token_service.verify(old).failure_reason == R.FAILURE_REASON_REVOKED
    assert token_service.verify(token_service.issue("S00010").token).valid


@pytest.mark.parametrize(
    "garbage",
    ["x", "a.b", "a.b.c.d", "....", "é.é.é", "\x00\x01\x02", "eyJ.eyJ.sig", "ab\u202e.cd.ef",
     "%%%.%%%.%%%", "e30.e30.e30", "bnVsbA.bnVsbA.bnVsbA"],
)  # fmt: skip
def test_garbage_is_malformed(token_service: RunningTokenService, garbage: str) -> None:
    verdict = token_service.verify(garbage)
    assert not verdict.valid
    assert verdict.failure_reason in (R.FAILURE_REASON_MALFORMED, R.FAILURE_REASON_UNKNOWN_KEY)


def test_empty_or_oversized_token_is_invalid_argument(token_service: RunningTokenService) -> None:
    for token, words in (("", "empty"), ("a" * 4097, "4096")):
        with pytest.raises(grpc.RpcError) as raised:
            token_service.verify(token)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert words in raised.value.details()


def test_legacy_pass_verifies_and_maps_to_subject(token_service: RunningTokenService) -> None:
    student = jwt.encode(
        {"type": "STUDENT", "student_id": "S00011", "email": "s11@campus.edu",
         "registration_no": "R0000011",
         "checksum": legacy_checksum("S00011", "s11@campus.edu", LEGACY_SECRET), "iat": 1700000000},
        LEGACY_SECRET, algorithm="HS256",
    )  # fmt: skip
    verdict = token_service.verify(student, STUDENT)
    assert verdict.valid and verdict.legacy
    assert verdict.subject.registration_no == "R0000011"

    stall = jwt.encode(
        {"type": "STALL", "stall_id": "T003", "stall_number": "A-3", "school_id": 1,
         "checksum": legacy_checksum("T003", "A-3", LEGACY_SECRET), "iat": 1700000000},
        LEGACY_SECRET, algorithm="HS256",
    )  # fmt: skip
    assert token_service.verify(stall, STALL).valid
    assert token_service.verify(stall, STUDENT).failure_reason == R.FAILURE_REASON_WRONG_KIND


def test_legacy_pass_with_bad_checksum_or_secret_is_rejected(
    token_service: RunningTokenService,
) -> None:
    claims = {"type": "STUDENT", "student_id": "S00012", "email": "s12@campus.edu",
              "checksum": "0000000000000000", "iat": 1700000000}  # fmt: skip
    bad_checksum = jwt.encode(claims, LEGACY_SECRET, algorithm="HS256")
    assert token_service.verify(bad_checksum).failure_reason == R.FAILURE_REASON_BAD_SIGNATURE
    claims["checksum"] = legacy_checksum("S00012", "s12@campus.edu", "wrong-secret-wrong-secret")
    wrong_secret = jwt.encode(claims, "wrong-secret-wrong-secret-wrong!", algorithm="HS256")
    assert token_service.verify(wrong_secret).failure_reason == R.FAILURE_REASON_BAD_SIGNATURE


def test_legacy_pass_is_revoked_by_rotation(token_service: RunningTokenService) -> None:
    legacy = jwt.encode(
        {"type": "STUDENT", "student_id": "S00013", "email": "s13@campus.edu",
         "checksum": legacy_checksum("S00013", "s13@campus.edu", LEGACY_SECRET)},
        LEGACY_SECRET, algorithm="HS256",
    )  # fmt: skip
    assert token_service.verify(legacy).valid
    token_service.rotate("S00013")
    assert token_service.verify(legacy).failure_reason == R.FAILURE_REASON_REVOKED


def test_jwks_has_public_members_only_and_verifies_offline(
    token_service: RunningTokenService,
) -> None:
    jwks = token_service.stub.GetJwks(pb.GetJwksRequest())
    assert jwks.active_kid in {key.kid for key in jwks.keys}
    token = token_service.issue("S00014").token
    for key in jwks.keys:
        assert (key.kty, key.crv, key.alg, key.use) == ("OKP", "Ed25519", "EdDSA", "sig")
        assert len(_unb64(key.x)) == 32  # a raw public key; JWK has no field for a private part
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in jwks.keys if k.kid == kid]
    jwk = jwt.PyJWK({"kty": key.kty, "crv": key.crv, "x": key.x, "kid": key.kid, "alg": key.alg})
    claims = jwt.decode(token, jwk, algorithms=["EdDSA"], audience="qrpass-gate", issuer="qrpass")
    assert claims["sub"] == "S00014"
