"""The vocabulary agrees with the proto enums it names, and its rules say what the docs say."""

from __future__ import annotations

import pytest

from qrpass.core.clients import method_name
from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import (
    ADMISSION_NAMES,
    BY_NAME,
    BY_PLURAL,
    BY_VALUE,
    DIRECTIONS,
    EC_LEVEL_VALUES,
    GATE_PATTERN,
    HEX_COLOUR_PATTERN,
    ID_PATTERN,
    KINDS,
    PLURAL_RULE,
    SCAN_ID_PATTERN,
)


def _specified(enum: object) -> set[int]:
    return {value for name, value in enum.items() if not name.endswith("_UNSPECIFIED")}  # type: ignore[attr-defined]


def test_every_subject_kind_in_the_proto_has_one_entry() -> None:
    assert set(BY_VALUE) == _specified(token_pb.SubjectKind)
    assert len(BY_NAME) == len(BY_PLURAL) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_a_kinds_names_are_its_enum_name_in_each_form(kind) -> None:
    enum_name = token_pb.SubjectKind.Name(kind.value)
    assert enum_name == f"SUBJECT_KIND_{kind.name.upper()}"
    assert kind.plural == kind.name + "s"
    assert kind.identity_field in token_pb.Subject.DESCRIPTOR.fields_by_name


def test_the_route_pattern_names_every_plural() -> None:
    assert PLURAL_RULE.split("|") == [kind.plural for kind in KINDS]


@pytest.mark.parametrize("subject_id", ["S00001", "a", "x" * 64, "A-b_9", "0"])
def test_ids_that_match(subject_id: str) -> None:
    assert ID_PATTERN.fullmatch(subject_id)


@pytest.mark.parametrize(
    "subject_id", ["", "x" * 65, "S 1", "S/1", "../etc", "S.1", "é", "S1\n", "S1\x00"]
)
def test_ids_that_do_not(subject_id: str) -> None:
    assert not ID_PATTERN.fullmatch(subject_id)


@pytest.mark.parametrize("gate", ["North", "A", "Gate 3 (east)", "🎪 main", "x" * 64, "Süd"])
def test_gate_names_that_match(gate: str) -> None:
    assert GATE_PATTERN.fullmatch(gate)


@pytest.mark.parametrize("gate", ["", " North", "North ", "a\tb", "x" * 65, "a\x7fb", "\n"])
def test_gate_names_that_do_not(gate: str) -> None:
    assert not GATE_PATTERN.fullmatch(gate)


@pytest.mark.parametrize(
    ("scan_id", "ok"),
    [
        ("0b8e4c1e-2d6a-4f3b-9a7c-1f2e3d4c5b6a", True),  # a UUID
        ("01HZX3K9Q8V7T6R5P4N3M2L1K0", True),  # a ULID
        ("scanner-7:42", True),
        ("", False),
        ("a b", False),
        ("x" * 65, False),
    ],
)
def test_scan_ids(scan_id: str, ok: bool) -> None:
    assert bool(SCAN_ID_PATTERN.fullmatch(scan_id)) is ok


@pytest.mark.parametrize(("colour", "ok"), [("00ff7A", True), ("#00ff7a", False), ("0f0", False)])
def test_hex_colours(colour: str, ok: bool) -> None:
    assert bool(HEX_COLOUR_PATTERN.fullmatch(colour)) is ok


def test_every_error_correction_level_in_the_proto_has_a_letter() -> None:
    assert set(EC_LEVEL_VALUES.values()) == _specified(image_pb.ErrorCorrectionLevel)


def test_every_direction_and_admission_has_a_name() -> None:
    assert set(DIRECTIONS.values()) == _specified(token_pb.Direction)
    assert set(ADMISSION_NAMES) == _specified(token_pb.Admission)
    assert "already_inside" in ADMISSION_NAMES.values()


@pytest.mark.parametrize(
    "service",
    [
        token_pb.DESCRIPTOR.services_by_name["TokenService"],
        image_pb.DESCRIPTOR.services_by_name["ImageService"],
    ],
    ids=lambda service: service.name,
)
def test_client_metrics_name_each_method_from_its_request_type(service) -> None:
    """The clients label metrics by the request message's name; this holds for every RPC."""
    module = token_pb if service.file is token_pb.DESCRIPTOR else image_pb
    for method in service.methods:
        request_type = getattr(module, method.input_type.name)
        assert method_name(request_type) == method.name
