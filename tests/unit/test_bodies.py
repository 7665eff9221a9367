"""The gateway's body models: what each accepts, and the house's words for what it refuses
(msgspec's own messages, "Expected `str`, got `int` - at `$.token`", never reach a client)."""

from __future__ import annotations

import json

import msgspec
import pytest

from gateway.answers import RESPONSE_MODELS, CheckIn, Verdict
from gateway.bodies import (
    REQUEST_MODELS,
    BatchCheckInRequest,
    Body,
    CheckInRequest,
    InvalidateRequest,
    VerifyRequest,
    decode,
    must_be,
)
from gateway.errors import ApiError
from gateway.names import FAILURE_NAMES
from qrpass.vocabulary import ADMISSION_NAMES, BY_NAME, KINDS, MAX_BATCH_SCANS, MAX_TOKEN_BYTES

SCAN = {"token": "x.y.z", "gate": "A", "scan_id": "s-1", "scanned_at": "2026-05-01T09:00:00Z"}


def _refusal(model: type[Body], body: object) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ApiError) as refused:
        decode(model, raw)
    assert refused.value.status == 400
    return refused.value.detail


@pytest.mark.parametrize(
    ("model", "body", "words"),
    [
        (VerifyRequest, {"token": 5}, "token must be a non-empty string"),
        (VerifyRequest, {"token": ""}, "token must be a non-empty string"),
        (VerifyRequest, {}, "token must be a non-empty string"),
        (VerifyRequest, {"token": "a" * (MAX_TOKEN_BYTES + 1)}, f"longer than {MAX_TOKEN_BYTES}"),
        (VerifyRequest, {"token": "a", "expected_kind": "dog"},
         "expected_kind must be " + " or ".join(repr(n) for n in sorted(BY_NAME))),
        (VerifyRequest, [], "the body must be a JSON object"),
        (VerifyRequest, b"{not json", "the body must be a JSON object"),
        (VerifyRequest, b"[" * 50_000 + b"]" * 50_000, "the body must be a JSON object"),
        (VerifyRequest, b'{"token": "a", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
         "the body must be a JSON object"),
        (VerifyRequest, b'{"token": "\\udb4c"}', "lone UTF-16 surrogate"),
        (VerifyRequest, b'{"token": "\\udc00x"}', "lone UTF-16 surrogate"),
        (CheckInRequest, {"gate": "A"}, "token must be a non-empty string"),
        (CheckInRequest, {"token": "t"}, "gate must be a non-empty string"),
        (CheckInRequest, {"token": "t", "gate": "A", "direction": 7}, "direction must be 'in' or 'out'"),
        (CheckInRequest, {"token": "t", "gate": "A", "scan_id": 3}, "scan_id must be a string"),
        (CheckInRequest, {"token": "t", "gate": "A", "scanned_at": 3}, "scanned_at must be an RFC 3339"),
        (CheckInRequest, {"token": "t", "gate": "A", "seat": 3},
         "unknown field 'seat'; use direction, gate, scan_id, scanned_at, token"),
        (BatchCheckInRequest, {"scans": [SCAN], "more": 1}, 'the body must be {"scans": [...]}'),
        (BatchCheckInRequest, {"scans": 3}, f"scans must be a list of at most {MAX_BATCH_SCANS} items"),
        (BatchCheckInRequest, {}, "scans must be a list"),
        (BatchCheckInRequest, {"scans": [SCAN, 3]}, "scans[1] must be a JSON object"),
        (BatchCheckInRequest, {"scans": [SCAN, {**SCAN, "seat": 1}]}, "scans[1]: unknown field 'seat'"),
        (BatchCheckInRequest, {"scans": [{**SCAN, "direction": "up"}]},
         "scans[0].direction must be 'in' or 'out'"),
        (BatchCheckInRequest, {"scans": [{k: v for k, v in SCAN.items() if k != "scanned_at"}]},
         "scans[0].scanned_at must be an RFC 3339 time"),
        (BatchCheckInRequest, {"scans": [SCAN] * (MAX_BATCH_SCANS + 1)}, f"at most {MAX_BATCH_SCANS}"),
        (InvalidateRequest, {"token": "t", "gate": "A"}, 'the body must be {"token": "..."}'),
        (InvalidateRequest, {"token": 7}, "token must be a non-empty string"),
    ],
)  # fmt: skip
def test_a_refused_body_is_told_in_the_house_words(model, body, words) -> None:
    detail = _refusal(model, body)
    assert words in detail
    assert "`" not in detail and "$" not in detail  # nothing of msgspec's own wording


def test_accepted_bodies_decode_with_their_defaults() -> None:
    verify = decode(VerifyRequest, b'{"token": "t", "unknown": 1}')  # verify ignores extras
    assert (verify.token, verify.expected_kind) == ("t", None)
    assert (
        decode(VerifyRequest, b'{"token": "t", "expected_kind": "stall"}').expected_kind == "stall"
    )
    scan = decode(CheckInRequest, b'{"token": "t", "gate": "\\ud83d\\udeaa North"}')
    assert (scan.direction, scan.scan_id, scan.scanned_at) == ("in", None, None)
    assert scan.gate == "\U0001f6aa North"  # a surrogate pair is text
    batch = decode(BatchCheckInRequest, json.dumps({"scans": [SCAN] * MAX_BATCH_SCANS}).encode())
    assert len(batch.scans) == MAX_BATCH_SCANS and batch.scans[0].scan_id == "s-1"


def test_every_model_field_has_words_for_its_refusal() -> None:
    """A field whose type the translation cannot describe would be refused as 'must be valid'."""
    for model in REQUEST_MODELS:
        for field in msgspec.inspect.type_info(model).fields:
            assert must_be(field.type) != "valid", (model.__name__, field.name)


def test_the_verdict_names_the_original_fields_of_each_kind_and_omits_the_unset() -> None:
    fields = set(Verdict.__struct_fields__)
    for kind in KINDS:
        assert {kind.id_field, kind.identity_field} <= fields
    verdict = Verdict(valid=False, kind=None, subject_id=None, error=FAILURE_NAMES[1])
    assert json.loads(msgspec.json.encode(verdict)) == {
        "valid": False, "kind": None, "subject_id": None, "error": FAILURE_NAMES[1]}  # fmt: skip
    schema = msgspec.json.schema(CheckIn)["$defs"]["CheckIn"]
    assert set(schema["required"]) == {
        "valid", "kind", "subject_id", "error", "admission", "scan_id", "scanned_at"}  # fmt: skip
    assert schema["properties"]["admission"]["enum"] == sorted(ADMISSION_NAMES.values())


def test_every_model_has_a_json_schema() -> None:
    _, components = msgspec.json.schema_components((*REQUEST_MODELS, *RESPONSE_MODELS))
    assert {m.__name__ for m in (*REQUEST_MODELS, *RESPONSE_MODELS)} <= set(components)
