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
