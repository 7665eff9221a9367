"""The gate's state machine, with every transition."""

from __future__ import annotations

import pytest

from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.vocabulary import ADMISSION_NAMES
from token_service.admission import Admission, Entry, decide

ENTRY = Entry(1_000, "A")


@pytest.mark.parametrize(
    ("valid", "direction", "inside", "admission", "after"),
    [
        (True, "in", None, Admission.ADMITTED, Entry(5_000, "B")),
        (True, "in", ENTRY, Admission.ALREADY_INSIDE, ENTRY),
        (True, "out", ENTRY, Admission.EXITED, None),
        (True, "out", None, Admission.NOT_INSIDE, None),
        (False, "in", None, Admission.REJECTED, None),
        (False, "in", ENTRY, Admission.REJECTED, ENTRY),
        (False, "out", ENTRY, Admission.REJECTED, ENTRY),
    ],
)
def test_each_transition(valid, direction, inside, admission, after) -> None:
    decision = decide(valid, direction, inside, "B", 5_000)
    assert decision.admission is admission
    assert decision.inside == after


def test_reentry_after_exit_is_admitted_and_a_second_entry_is_refused() -> None:
    inside = None
    answers = []
    for direction, at in (("in", 1), ("in", 2), ("out", 3), ("out", 4), ("in", 5), ("in", 6)):
        decision = decide(True, direction, inside, "G", at)
        answers.append(decision.admission.value)
        inside = decision.inside
    assert answers == [
        "admitted", "already_inside", "exited", "not_inside", "admitted", "already_inside"
    ]  # fmt: skip
    assert inside == Entry(5, "G")  # the entry that counts is the first of the second visit


def test_admission_values_are_the_proto_names() -> None:
    assert set(ADMISSION_NAMES.values()) == {a.value for a in Admission}
    assert len(ADMISSION_NAMES) == len(pb.Admission.values()) - 1  # all but UNSPECIFIED
