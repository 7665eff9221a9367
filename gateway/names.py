"""The words of the JSON API's enums as Literal types, taken from the vocabulary and the proto
(never restated), for the body and answer models; and the JSON schema of a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import ADMISSION_NAMES, BY_NAME, DIRECTIONS

# "revoked", "expired", ...: the proto's FailureReason names in the JSON's words.
FAILURE_NAMES = {
    value: name.removeprefix("FAILURE_REASON_").lower()
    for name, value in token_pb.FailureReason.items()
    if value != token_pb.FAILURE_REASON_UNSPECIFIED
}
DATE_TIME = {"format": "date-time"}  # RFC 3339, with its offset

if TYPE_CHECKING:  # a type checker cannot follow a Literal built at run time
    KindName: TypeAlias = str
    AdmissionName: TypeAlias = str
    DirectionName: TypeAlias = str
    FailureName: TypeAlias = str
else:
    KindName = Literal[tuple(BY_NAME)]
    AdmissionName = Literal[tuple(ADMISSION_NAMES.values())]
    DirectionName = Literal[tuple(DIRECTIONS)]
    FailureName = Literal[tuple(FAILURE_NAMES.values())]
