"""The JSON answers of the gateway, declared once as msgspec Structs: the routes encode them and
/openapi.json's response schemas come from the same classes.

A field that is UNSET is left out of the JSON; a field that is None is written as null.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Struct, UnsetType

from gateway.names import (
    DATE_TIME,
    FAILURE_NAMES,
    AdmissionName,
    DirectionName,
    FailureName,
    KindName,
)
from qrpass.token.v1 import token_service_pb2 as token_pb
from qrpass.vocabulary import BY_VALUE, KINDS

TIME = msgspec.Meta(extra_json_schema=DATE_TIME)


class Status(Struct):
    status: str


class Ready(Status):
    backends: dict[str, Any]


class Jwk(Struct):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class Jwks(Struct):
    keys: list[Jwk]


class Pass(Struct):
    """A subject's pass, as the original system answered it: token and data-URL PNG."""

    success: bool
    qr_token: str
    qr_image: str
    cached: bool


class Rotated(Struct):
    qr_token: str


class Deleted(Struct):
    deleted: int


class Imported(Struct):
    created: int
    updated: int
    unchanged: int


class CacheStats(Struct):
    """entries, memory and evictions are the backend's (on Redis, the whole server's memory;
    entries count qrpass's images only). hits, misses and bypasses are the answering replica's
    since its start: sum qrpass_image_cache_lookups_total in Prometheus for every replica."""

    backend: str
    connected: bool
    entries: int
    memory_bytes: int
    max_memory_bytes: int
    evictions: int
    replica: str
    hits: int
    misses: int
    bypasses: int
    hit_ratio: float


# A verdict names the subject's id and identity under the original's names too ("student_id",
# "registration_no"), so its fields come from the kinds: defstruct builds the class from them.
Verdict: type[Struct] = msgspec.defstruct(
    "Verdict",
    [
        ("valid", bool),
        ("kind", KindName | None),
        ("subject_id", str | None),
        *[(kind.id_field, str | UnsetType, UNSET) for kind in KINDS],
        *[(kind.identity_field, str | UnsetType, UNSET) for kind in KINDS],
        ("name", str | UnsetType, UNSET),
        ("error", FailureName | None),
    ],
    kw_only=True,
    module=__name__,
)


class Entered(Struct):
    """The entry that counts, for a pass already inside."""

    at: Annotated[str, TIME]
    gate: str


CheckIn: type[Struct] = msgspec.defstruct(
    "CheckIn",
    [
        ("admission", AdmissionName),
        ("entered", Entered | UnsetType, UNSET),
        ("scan_id", str | None),
        ("scanned_at", Annotated[str, TIME]),
    ],
    bases=(Verdict,),
    kw_only=True,
    module=__name__,
)
CheckIns: type[Struct] = msgspec.defstruct(
    "CheckIns",
    [("results", list[CheckIn])],  # type: ignore[valid-type]  # a class built at run time
    module=__name__,
)


class LedgerScan(Struct):
    id: int
    kind: KindName | None
    subject_id: str | None
    gate: str
    direction: DirectionName
    scanned_at: Annotated[str, TIME]
    scan_id: str | None
    admission: AdmissionName
    error: FailureName | None


class Ledger(Struct):
    scans: list[LedgerScan]
    next_page_token: str
    inside: dict[KindName, int]


class RowProblem(Struct):
    line: int
    field: str
    reason: str


class Problem(Struct):
    """An error, as RFC 9457's problem+json; `detail` says what is wrong and how to fix it."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[RowProblem] | UnsetType = UNSET  # an import's rows, each with its fault


RESPONSE_MODELS = (Status, Ready, Jwks, Pass, Rotated, Deleted, Imported, CacheStats, Verdict,
                   CheckIn, CheckIns, Ledger, Problem)  # fmt: skip


def verdict_fields(reply: token_pb.VerifyTokenResponse) -> dict[str, Any]:
    """A Verdict's fields: valid, kind, subject_id, identity, name and error."""
    subject = reply.subject
    kind = BY_VALUE.get(subject.kind)
    fields: dict[str, Any] = {
        "valid": reply.valid,
        "kind": kind.name if kind else None,
        "subject_id": subject.id or None,
        "error": None if reply.valid else FAILURE_NAMES[reply.failure_reason],
    }
    if kind is not None:  # the original's field, which scanner code written against it reads
        fields[kind.id_field] = subject.id
    if kind is not None and getattr(subject, kind.identity_field):
        fields[kind.identity_field] = getattr(subject, kind.identity_field)
    if subject.name:
        fields["name"] = subject.name
    return fields
