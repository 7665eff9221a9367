"""The JSON bodies the gateway takes, declared once as msgspec Structs: each is validated while it
is parsed, /openapi.json's request schemas come from the same classes, and msgspec's errors are
told in the house's words ("token must be a non-empty string"), derived from the field's type.

Rules owned by the token service (a gate's characters, a scan_id's) are documented here through
`extra_json_schema` but checked there, once, for gRPC callers too.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec
from msgspec import Meta, Struct

from gateway.errors import ApiError
from gateway.names import DATE_TIME, DirectionName, KindName
from qrpass.vocabulary import (
    GATE_RULE,
    MAX_BATCH_SCANS,
    MAX_TOKEN_BYTES,
    SCAN_ID_RULE,
)

RFC3339_WORDS = "an RFC 3339 time with its offset, e.g. 2026-05-01T09:02:00Z"

PassToken = Annotated[str, Meta(min_length=1, max_length=MAX_TOKEN_BYTES)]
Gate = Annotated[str, Meta(
    min_length=1, extra_json_schema={"pattern": f"^{GATE_RULE}$"},
    description="1 to 64 characters: no control characters, no space at either end.",
)]  # fmt: skip
ScanId = Annotated[str, Meta(
    extra_json_schema={"pattern": f"^{SCAN_ID_RULE}$"},
    description="Chosen by the scanner; the same id again returns the first answer.",
)]  # fmt: skip
Time = Annotated[str, Meta(
    extra_json_schema=DATE_TIME, extra={"must_be": RFC3339_WORDS},
    description="When the scan happened; default now.",
)]  # fmt: skip


class Body(Struct, kw_only=True):
    """A request body. `shape`, when set, is the message for a body of the wrong shape."""

    shape: ClassVar[str | None] = None


class VerifyRequest(Body):
    token: PassToken
    expected_kind: Annotated[
        KindName | None, Meta(description="Absent or null accepts either kind.")
    ] = None


class CheckInRequest(Body, forbid_unknown_fields=True):
    token: PassToken
    gate: Gate
    direction: DirectionName = "in"
    scan_id: ScanId | None = None
    scanned_at: Time | None = None


class BatchScan(CheckInRequest, kw_only=True):
    """A scan made offline: its id and time are what make a re-upload idempotent and ordered."""

    scan_id: ScanId
    scanned_at: Time


class BatchCheckInRequest(Body, forbid_unknown_fields=True):
    shape = 'the body must be {"scans": [...]}'
    scans: Annotated[list[BatchScan], Meta(max_length=MAX_BATCH_SCANS)]


class InvalidateRequest(Body, forbid_unknown_fields=True):
    shape = 'the body must be {"token": "..."}'
    token: PassToken


REQUEST_MODELS = (VerifyRequest, CheckInRequest, BatchCheckInRequest, InvalidateRequest)

B = TypeVar("B", bound=Body)
_DECODERS: dict[type[Body], msgspec.json.Decoder[Any]] = {
    model: msgspec.json.Decoder(model) for model in REQUEST_MODELS
}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode(model: type[B], body: bytes) -> B:
    """The body as `model`, or a 400 that says what is wrong in the house's words."""
    try:
        decoded: B = _DECODERS[model].decode(body)
    except msgspec.ValidationError as error:
        raise ApiError(400, house_words(model, str(error))) from None
    except (msgspec.DecodeError, RecursionError):
        raise ApiError(400, _malformed(body)) from None
    return decoded


def _malformed(body: bytes) -> str:
    # "\\ud800" is valid JSON but no text: gRPC's UTF-8 could not carry it, and msgspec refuses
    # it as malformed. Say so when that is the only fault (a surrogate pair, an emoji, is fine).
    if _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return "the body holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        except (ValueError, RecursionError):
            pass
    return "the body must be a JSON object"


_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")
_MISSING = re.compile(r"Object missing required field `(\w+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`")


def house_words(model: type[Body], message: str) -> str:
    """msgspec's "Expected `str`, got `int` - at `$.scans[0].gate`" as "scans[0].gate must be a
    non-empty string": the path from msgspec, the wording from the field's declared type."""
    text, _, at = message.partition(" - at `")
    info: msgspec.inspect.Type = msgspec.inspect.type_info(model)
    where = ""  # "scans[0].gate": the path to where msgspec stopped
    for field, index in _STEP.findall(at.rstrip("`")):
        if field:
            info, where = _field(info, field), f"{where}.{field}" if where else field
        else:
            info, where = _item(info), f"{where}[{index}]"
    owner, prefix = _unwrap(info), f"{where}." if where else ""
    if missing := _MISSING.match(text):
        field = missing[1]
        return f"{prefix}{field} must be {must_be(_field(owner, field))}"
    if unknown := _UNKNOWN.match(text):
        shape = _shape(owner) if not where else None
        fields = ", ".join(sorted(f.name for f in _fields(owner)))
        return shape or f"{where + ': ' if where else ''}unknown field {unknown[1]!r}; use {fields}"
    if text.startswith("Expected `object`") and isinstance(owner, msgspec.inspect.StructType):
        return f"{where or 'the body'} must be a JSON object"
    if " of length <= " in text:
        limit = _limit(info)
        if isinstance(_unwrap(info), msgspec.inspect.ListType):
            return f"{where} holds at most {limit} items"
        return f"{where} is longer than {limit} characters"
    return f"{where} must be {must_be(info)}"


def must_be(info: msgspec.inspect.Type) -> str:
    """What a value of this type is, in words: "a non-empty string", "'in' or 'out'"."""
    if isinstance(info, msgspec.inspect.Metadata):
        said = (info.extra or {}).get("must_be")
        return str(said) if said else must_be(info.type)
    if isinstance(info, msgspec.inspect.UnionType):  # X | None: null means absent
        return " or ".join(must_be(t) for t in info.types if t != msgspec.inspect.NoneType())
    if isinstance(info, msgspec.inspect.LiteralType):
        return " or ".join(map(repr, info.values))
    if isinstance(info, msgspec.inspect.StrType):
        return "a non-empty string" if info.min_length else "a string"
    if isinstance(info, msgspec.inspect.ListType):
        return f"a list of at most {info.max_length} items" if info.max_length else "a list"
    if isinstance(info, msgspec.inspect.StructType):
        return "a JSON object"
    return "valid"


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    while isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        others = [t for t in info.types if t != msgspec.inspect.NoneType()]
        if len(others) == 1:
            return _unwrap(others[0])
    return info


def _fields(info: msgspec.inspect.Type) -> tuple[msgspec.inspect.Field, ...]:
    struct = _unwrap(info)
    return struct.fields if isinstance(struct, msgspec.inspect.StructType) else ()


def _field(info: msgspec.inspect.Type, name: str) -> msgspec.inspect.Type:
    for field in _fields(info):
        if field.encode_name == name:
            return field.type
    return msgspec.inspect.AnyType()


def _item(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    sequence = _unwrap(info)
    if isinstance(sequence, msgspec.inspect.ListType):
        return sequence.item_type
    return msgspec.inspect.AnyType()


def _shape(info: msgspec.inspect.Type) -> str | None:
    struct = _unwrap(info)
    if isinstance(struct, msgspec.inspect.StructType) and issubclass(struct.cls, Body):
        return struct.cls.shape
    return None


def _limit(info: msgspec.inspect.Type) -> int | None:
    bounded = _unwrap(info)
    if isinstance(bounded, msgspec.inspect.StrType | msgspec.inspect.ListType):
        return bounded.max_length
    return None
