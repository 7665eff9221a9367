import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_KIND_UNSPECIFIED: _ClassVar[SubjectKind]
    SUBJECT_KIND_STUDENT: _ClassVar[SubjectKind]
    SUBJECT_KIND_STALL: _ClassVar[SubjectKind]

class FailureReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_REASON_UNSPECIFIED: _ClassVar[FailureReason]
    FAILURE_REASON_MALFORMED: _ClassVar[FailureReason]
    FAILURE_REASON_BAD_SIGNATURE: _ClassVar[FailureReason]
    FAILURE_REASON_UNKNOWN_KEY: _ClassVar[FailureReason]
    FAILURE_REASON_WRONG_KIND: _ClassVar[FailureReason]
    FAILURE_REASON_REVOKED: _ClassVar[FailureReason]
    FAILURE_REASON_EXPIRED: _ClassVar[FailureReason]
    FAILURE_REASON_SUBJECT_NOT_FOUND: _ClassVar[FailureReason]

class ImportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_FORMAT_UNSPECIFIED: _ClassVar[ImportFormat]
    IMPORT_FORMAT_CSV: _ClassVar[ImportFormat]
    IMPORT_FORMAT_XLSX: _ClassVar[ImportFormat]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_IN: _ClassVar[Direction]
    DIRECTION_OUT: _ClassVar[Direction]

class Admission(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADMISSION_UNSPECIFIED: _ClassVar[Admission]
    ADMISSION_ADMITTED: _ClassVar[Admission]
    ADMISSION_ALREADY_INSIDE: _ClassVar[Admission]
    ADMISSION_EXITED: _ClassVar[Admission]
    ADMISSION_NOT_INSIDE: _ClassVar[Admission]
    ADMISSION_REJECTED: _ClassVar[Admission]
SUBJECT_KIND_UNSPECIFIED: SubjectKind
SUBJECT_KIND_STUDENT: SubjectKind
SUBJECT_KIND_STALL: SubjectKind
FAILURE_REASON_UNSPECIFIED: FailureReason
FAILURE_REASON_MALFORMED: FailureReason
FAILURE_REASON_BAD_SIGNATURE: FailureReason
FAILURE_REASON_UNKNOWN_KEY: FailureReason
FAILURE_REASON_WRONG_KIND: FailureReason
FAILURE_REASON_REVOKED: FailureReason
FAILURE_REASON_EXPIRED: FailureReason
FAILURE_REASON_SUBJECT_NOT_FOUND: FailureReason
IMPORT_FORMAT_UNSPECIFIED: ImportFormat
IMPORT_FORMAT_CSV: ImportFormat
IMPORT_FORMAT_XLSX: ImportFormat
DIRECTION_UNSPECIFIED: Direction
DIRECTION_IN: Direction
DIRECTION_OUT: Direction
ADMISSION_UNSPECIFIED: Admission
ADMISSION_ADMITTED: Admission
ADMISSION_ALREADY_INSIDE: Admission
ADMISSION_EXITED: Admission
ADMISSION_NOT_INSIDE: Admission
ADMISSION_REJECTED: Admission

class Subject(_message.Message):
    __slots__ = ("kind", "id", "registration_no", "stall_number", "name", "email")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_NO_FIELD_NUMBER: _ClassVar[int]
    STALL_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    id: str
    registration_no: str
    stall_number: str
    name: str
    email: str
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., id: _Optional[str] = ..., registration_no: _Optional[str] = ..., stall_number: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ("kind", "subject_id", "min_sequence")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    subject_id: str
    min_sequence: int
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., subject_id: _Optional[str] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class IssueTokenResponse(_message.Message):
    __slots__ = ("token", "kid", "version", "sequence")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    kid: str
    version: int
    sequence: int
    def __init__(self, token: _Optional[str] = ..., kid: _Optional[str] = ..., version: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class VerifyTokenRequest(_message.Message):
    __slots__ = ("token", "expected_kind", "min_sequence")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_KIND_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    expected_kind: SubjectKind
    min_sequence: int
    def __init__(self, token: _Optional[str] = ..., expected_kind: _Optional[_Union[SubjectKind, str]] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class VerifyTokenResponse(_message.Message):
    __slots__ = ("valid", "subject", "failure_reason", "kid", "version", "legacy")
    VALID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LEGACY_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    subject: Subject
    failure_reason: FailureReason
    kid: str
    version: int
    legacy: bool
    def __init__(self, valid: _Optional[bool] = ..., subject: _Optional[_Union[Subject, _Mapping]] = ..., failure_reason: _Optional[_Union[FailureReason, str]] = ..., kid: _Optional[str] = ..., version: _Optional[int] = ..., legacy: _Optional[bool] = ...) -> None: ...

class RotateTokenRequest(_message.Message):
    __slots__ = ("kind", "subject_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    subject_id: str
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., subject_id: _Optional[str] = ...) -> None: ...

class RotateTokenResponse(_message.Message):
    __slots__ = ("token", "kid", "version", "sequence")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    kid: str
    version: int
    sequence: int
    def __init__(self, token: _Optional[str] = ..., kid: _Optional[str] = ..., version: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("kind", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SubjectToken(_message.Message):
    __slots__ = ("subject", "token", "kid", "version")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    token: str
    kid: str
    version: int
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ..., token: _Optional[str] = ..., kid: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("subject_tokens", "next_page_token", "total_size")
    SUBJECT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject_tokens: _containers.RepeatedCompositeFieldContainer[SubjectToken]
    next_page_token: str
    total_size: int
    def __init__(self, subject_tokens: _Optional[_Iterable[_Union[SubjectToken, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ImportSubjectsRequest(_message.Message):
    __slots__ = ("kind", "content", "format")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    content: bytes
    format: ImportFormat
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., content: _Optional[bytes] = ..., format: _Optional[_Union[ImportFormat, str]] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("line", "field", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    field: str
    reason: str
    def __init__(self, line: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportSubjectsResponse(_message.Message):
    __slots__ = ("created", "updated", "unchanged", "errors", "sequence")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    created: int
    updated: int
    unchanged: int
    errors: _containers.RepeatedCompositeFieldContainer[RowError]
    sequence: int
    def __init__(self, created: _Optional[int] = ..., updated: _Optional[int] = ..., unchanged: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RowError, _Mapping]]] = ..., sequence: _Optional[int] = ...) -> None: ...

class DeleteSubjectRequest(_message.Message):
    __slots__ = ("kind", "subject_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    subject_id: str
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., subject_id: _Optional[str] = ...) -> None: ...

class DeleteSubjectResponse(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Jwk(_message.Message):
    __slots__ = ("kty", "crv", "x", "kid", "alg", "use")
    KTY_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str
    def __init__(self, kty: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., kid: _Optional[str] = ..., alg: _Optional[str] = ..., use: _Optional[str] = ...) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("keys", "active_kid")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_KID_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[Jwk]
    active_kid: str
    def __init__(self, keys: _Optional[_Iterable[_Union[Jwk, _Mapping]]] = ..., active_kid: _Optional[str] = ...) -> None: ...

class WatchSubjectChangesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchSubjectChangesResponse(_message.Message):
    __slots__ = ("sequence", "subjects", "reset")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    subjects: _containers.RepeatedCompositeFieldContainer[Subject]
    reset: bool
    def __init__(self, sequence: _Optional[int] = ..., subjects: _Optional[_Iterable[_Union[Subject, _Mapping]]] = ..., reset: _Optional[bool] = ...) -> None: ...

class CheckInRequest(_message.Message):
    __slots__ = ("token", "gate", "direction", "scan_id", "scanned_at", "min_sequence")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SCAN_ID_FIELD_NUMBER: _ClassVar[int]
    SCANNED_AT_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    gate: str
    direction: Direction
    scan_id: str
    scanned_at: _timestamp_pb2.Timestamp
    min_sequence: int
    def __init__(self, token: _Optional[str] = ..., gate: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., scan_id: _Optional[str] = ..., scanned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class GateEntry(_message.Message):
    __slots__ = ("at", "gate")
    AT_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    gate: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gate: _Optional[str] = ...) -> None: ...

class CheckInResponse(_message.Message):
    __slots__ = ("verification", "admission", "entered", "scan_id", "scanned_at", "replayed")
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_FIELD_NUMBER: _ClassVar[int]
    ENTERED_FIELD_NUMBER: _ClassVar[int]
    SCAN_ID_FIELD_NUMBER: _ClassVar[int]
    SCANNED_AT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    verification: VerifyTokenResponse
    admission: Admission
    entered: GateEntry
    scan_id: str
    scanned_at: _timestamp_pb2.Timestamp
    replayed: bool
    def __init__(self, verification: _Optional[_Union[VerifyTokenResponse, _Mapping]] = ..., admission: _Optional[_Union[Admission, str]] = ..., entered: _Optional[_Union[GateEntry, _Mapping]] = ..., scan_id: _Optional[str] = ..., scanned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class BatchCheckInRequest(_message.Message):
    __slots__ = ("scans",)
    SCANS_FIELD_NUMBER: _ClassVar[int]
    scans: _containers.RepeatedCompositeFieldContainer[CheckInRequest]
    def __init__(self, scans: _Optional[_Iterable[_Union[CheckInRequest, _Mapping]]] = ...) -> None: ...

class BatchCheckInResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CheckInResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CheckInResponse, _Mapping]]] = ...) -> None: ...

class Scan(_message.Message):
    __slots__ = ("id", "kind", "subject_id", "gate", "direction", "scanned_at", "scan_id", "admission", "failure_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    SCANNED_AT_FIELD_NUMBER: _ClassVar[int]
    SCAN_ID_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: SubjectKind
    subject_id: str
    gate: str
    direction: Direction
    scanned_at: _timestamp_pb2.Timestamp
    scan_id: str
    admission: Admission
    failure_reason: FailureReason
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[_Union[SubjectKind, str]] = ..., subject_id: _Optional[str] = ..., gate: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., scanned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scan_id: _Optional[str] = ..., admission: _Optional[_Union[Admission, str]] = ..., failure_reason: _Optional[_Union[FailureReason, str]] = ...) -> None: ...

class ListScansRequest(_message.Message):
    __slots__ = ("kind", "subject_id", "gate", "since", "page_size", "page_token", "inside")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INSIDE_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    subject_id: str
    gate: str
    since: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    inside: bool
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., subject_id: _Optional[str] = ..., gate: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., inside: _Optional[bool] = ...) -> None: ...

class InsideCount(_message.Message):
    __slots__ = ("kind", "count")
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    kind: SubjectKind
    count: int
    def __init__(self, kind: _Optional[_Union[SubjectKind, str]] = ..., count: _Optional[int] = ...) -> None: ...

class ListScansResponse(_message.Message):
    __slots__ = ("scans", "next_page_token", "inside")
    SCANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INSIDE_FIELD_NUMBER: _ClassVar[int]
    scans: _containers.RepeatedCompositeFieldContainer[Scan]
    next_page_token: str
    inside: _containers.RepeatedCompositeFieldContainer[InsideCount]
    def __init__(self, scans: _Optional[_Iterable[_Union[Scan, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., inside: _Optional[_Iterable[_Union[InsideCount, _Mapping]]] = ...) -> None: ...

class PruneScansRequest(_message.Message):
    __slots__ = ("before",)
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    before: _timestamp_pb2.Timestamp
    def __init__(self, before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PruneScansResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ListRevocationsRequest(_message.Message):
    __slots__ = ("since",)
    SINCE_FIELD_NUMBER: _ClassVar[int]
    since: str
    def __init__(self, since: _Optional[str] = ...) -> None: ...

class ListRevocationsResponse(_message.Message):
    __slots__ = ("signed_list", "cursor", "full", "count")
    SIGNED_LIST_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    signed_list: str
    cursor: str
    full: bool
    count: int
    def __init__(self, signed_list: _Optional[str] = ..., cursor: _Optional[str] = ..., full: _Optional[bool] = ..., count: _Optional[int] = ...) -> None: ...
