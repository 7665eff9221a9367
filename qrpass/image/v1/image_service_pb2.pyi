from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_SVG: _ClassVar[ImageFormat]

class ErrorCorrectionLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CORRECTION_LEVEL_UNSPECIFIED: _ClassVar[ErrorCorrectionLevel]
    ERROR_CORRECTION_LEVEL_L: _ClassVar[ErrorCorrectionLevel]
    ERROR_CORRECTION_LEVEL_M: _ClassVar[ErrorCorrectionLevel]
    ERROR_CORRECTION_LEVEL_Q: _ClassVar[ErrorCorrectionLevel]
    ERROR_CORRECTION_LEVEL_H: _ClassVar[ErrorCorrectionLevel]

class CacheStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_STATUS_UNSPECIFIED: _ClassVar[CacheStatus]
    CACHE_STATUS_HIT: _ClassVar[CacheStatus]
    CACHE_STATUS_MISS: _ClassVar[CacheStatus]
    CACHE_STATUS_BYPASS: _ClassVar[CacheStatus]
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_SVG: ImageFormat
ERROR_CORRECTION_LEVEL_UNSPECIFIED: ErrorCorrectionLevel
ERROR_CORRECTION_LEVEL_L: ErrorCorrectionLevel
ERROR_CORRECTION_LEVEL_M: ErrorCorrectionLevel
ERROR_CORRECTION_LEVEL_Q: ErrorCorrectionLevel
ERROR_CORRECTION_LEVEL_H: ErrorCorrectionLevel
CACHE_STATUS_UNSPECIFIED: CacheStatus
CACHE_STATUS_HIT: CacheStatus
CACHE_STATUS_MISS: CacheStatus
CACHE_STATUS_BYPASS: CacheStatus

class RenderOptions(_message.Message):
    __slots__ = ("format", "scale", "border", "error_correction", "dark_color", "light_color")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    BORDER_FIELD_NUMBER: _ClassVar[int]
    ERROR_CORRECTION_FIELD_NUMBER: _ClassVar[int]
    DARK_COLOR_FIELD_NUMBER: _ClassVar[int]
    LIGHT_COLOR_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    scale: int
    border: int
    error_correction: ErrorCorrectionLevel
    dark_color: str
    light_color: str
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., scale: _Optional[int] = ..., border: _Optional[int] = ..., error_correction: _Optional[_Union[ErrorCorrectionLevel, str]] = ..., dark_color: _Optional[str] = ..., light_color: _Optional[str] = ...) -> None: ...

class RenderQrCodeRequest(_message.Message):
    __slots__ = ("text", "options")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    options: RenderOptions
    def __init__(self, text: _Optional[str] = ..., options: _Optional[_Union[RenderOptions, _Mapping]] = ...) -> None: ...

class RenderQrCodeResponse(_message.Message):
    __slots__ = ("image", "content_type", "etag", "cache_status")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CACHE_STATUS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    content_type: str
    etag: str
    cache_status: CacheStatus
    def __init__(self, image: _Optional[bytes] = ..., content_type: _Optional[str] = ..., etag: _Optional[str] = ..., cache_status: _Optional[_Union[CacheStatus, str]] = ...) -> None: ...

class WarmQrCodesRequest(_message.Message):
    __slots__ = ("texts", "options")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    options: RenderOptions
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., options: _Optional[_Union[RenderOptions, _Mapping]] = ...) -> None: ...

class WarmQrCodesResponse(_message.Message):
    __slots__ = ("requested", "already_cached", "rendered", "failed")
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_CACHED_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    requested: int
    already_cached: int
    rendered: int
    failed: int
    def __init__(self, requested: _Optional[int] = ..., already_cached: _Optional[int] = ..., rendered: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class InvalidateQrCodeRequest(_message.Message):
    __slots__ = ("text", "options")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    options: RenderOptions
    def __init__(self, text: _Optional[str] = ..., options: _Optional[_Union[RenderOptions, _Mapping]] = ...) -> None: ...

class InvalidateQrCodeResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class ClearCacheRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClearCacheResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class GetCacheStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCacheStatsResponse(_message.Message):
    __slots__ = ("backend", "connected", "entries", "memory_bytes", "hits", "misses", "hit_ratio", "bypasses")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    BYPASSES_FIELD_NUMBER: _ClassVar[int]
    backend: str
    connected: bool
    entries: int
    memory_bytes: int
    hits: int
    misses: int
    hit_ratio: float
    bypasses: int
    def __init__(self, backend: _Optional[str] = ..., connected: _Optional[bool] = ..., entries: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., hit_ratio: _Optional[float] = ..., bypasses: _Optional[int] = ...) -> None: ...
