"""The domain's vocabulary, defined once: subject kinds and their names, the id rule, the limits of
a pass token and of a rendered image, the image cache's key scheme, and the gate's words.

Every service, the CLI, the OpenAPI document and the tests import these; a rule changes here only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qrpass.image.v1 import image_service_pb2 as image_pb
from qrpass.token.v1 import token_service_pb2 as token_pb

ID_RULE = "[A-Za-z0-9_-]{1,64}"  # subject ids and signing-key ids
ID_PATTERN = re.compile(ID_RULE)
MAX_TOKEN_BYTES = 4096  # a pass token is about 200 bytes; anything near this is not one of ours


@dataclass(frozen=True)
class Kind:
    """A kind of subject under each of its names."""

    name: str  # singular: JSON bodies, the CLI, the token's `kind` claim
    plural: str  # URL path segments
    value: token_pb.SubjectKind.ValueType  # the proto's SubjectKind
    identity_field: str  # what the gate shows beside the name

    @property
    def id_field(self) -> str:
        """ "student_id", "stall_id": the original system's name for the id, kept in answers."""
        return f"{self.name}_id"


STUDENT = Kind("student", "students", token_pb.SUBJECT_KIND_STUDENT, "registration_no")
STALL = Kind("stall", "stalls", token_pb.SUBJECT_KIND_STALL, "stall_number")
KINDS = (STUDENT, STALL)
BY_NAME = {kind.name: kind for kind in KINDS}
BY_PLURAL = {kind.plural: kind for kind in KINDS}
BY_VALUE: dict[int, Kind] = {kind.value: kind for kind in KINDS}
PLURAL_RULE = "|".join(kind.plural for kind in KINDS)  # "students|stalls", for route patterns

# Rendering. The defaults are the pass image the gateway serves and the warm fills.
DEFAULT_SCALE = 6  # pixels per module
# Below 3 px a module zbar misses some symbols at their own size: at 2 px, large ones with no
# border; at 1 px, most (docs/decisions.md).
MIN_SCALE = 3
DEFAULT_BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks; callers may add their own
# Dark against light, as WCAG asks of graphics a reader must make out; inverted codes are refused.
MIN_CONTRAST_RATIO = 3.0
MAX_SIDE_PX = 4096
MAX_BORDER = 20
DEFAULT_EC_LEVEL = "M"
EC_LEVELS = ("L", "M", "Q", "H")
EC_LEVEL_VALUES = {
    level: image_pb.ErrorCorrectionLevel.Value(f"ERROR_CORRECTION_LEVEL_{level}")
    for level in EC_LEVELS
}
HEX_COLOUR_RULE = "[0-9a-fA-F]{6}"  # "rrggbb"; the gRPC API takes it with a leading "#"
HEX_COLOUR_PATTERN = re.compile(HEX_COLOUR_RULE)

# Texts one WarmQrCodes call may carry (a page of subjects is 1,000).
MAX_WARM_BATCH = 5000

# The image cache: every key the image service writes starts with IMAGE_KEY_PREFIX, so its keys
# can be counted and cleared without touching anything else in a shared Redis. The version is
# the key layout's (v2: text hash, then variant hash); a clear takes every version's keys.
IMAGE_KEY_FAMILY = "qr:image:"
IMAGE_KEY_PREFIX = IMAGE_KEY_FAMILY + "v2:"

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
