"""The domain's vocabulary, defined once: subject kinds and their names, and the id rule."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qrpass.token.v1 import token_service_pb2 as token_pb

ID_RULE = "[A-Za-z0-9_-]{1,64}"
ID_PATTERN = re.compile(ID_RULE)


@dataclass(frozen=True)
class Kind:
    """A kind of subject under each of its names."""

    name: str  # singular: JSON bodies, the CLI, the token's `kind` claim
    plural: str  # URL path segments
    value: int  # the proto's SubjectKind
    identity_field: str  # what the gate shows beside the name


STUDENT = Kind("student", "students", token_pb.SUBJECT_KIND_STUDENT, "registration_no")
STALL = Kind("stall", "stalls", token_pb.SUBJECT_KIND_STALL, "stall_number")
KINDS = (STUDENT, STALL)
BY_NAME = {kind.name: kind for kind in KINDS}
BY_PLURAL = {kind.plural: kind for kind in KINDS}
BY_VALUE = {kind.value: kind for kind in KINDS}
PLURAL_RULE = "|".join(kind.plural for kind in KINDS)  # "students|stalls", for route patterns

# At the gate. A gate's name is what a volunteer reads: 1 to 64 characters, no control
# characters, no space at either end (so "North" and "North " are never two gates).
GATE_RULE = "[^\\x00-\\x20\\x7f](?:[^\\x00-\\x1f\\x7f]{0,62}[^\\x00-\\x20\\x7f])?"
GATE_PATTERN = re.compile(GATE_RULE)
SCAN_ID_RULE = "[A-Za-z0-9._:-]{1,64}"  # client-chosen; UUIDs and ULIDs fit
SCAN_ID_PATTERN = re.compile(SCAN_ID_RULE)
MAX_BATCH_SCANS = 1000
DIRECTIONS = {"in": token_pb.DIRECTION_IN, "out": token_pb.DIRECTION_OUT}
DIRECTION_NAMES = {value: name for name, value in DIRECTIONS.items()}
# "admitted", "already_inside", ...: the enum's names without the prefix, in lower case.
ADMISSION_NAMES = {
    value: name.removeprefix("ADMISSION_").lower()
    for name, value in token_pb.Admission.items()
    if value != token_pb.ADMISSION_UNSPECIFIED
}
