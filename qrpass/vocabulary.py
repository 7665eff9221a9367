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
