"""The token service's errors, and the one table that maps them to gRPC status codes.

TokenServiceError
├── InvalidRequest      a request field is missing or malformed
├── SubjectNotFound     no live subject has that kind and id
├── ImportRejected      the import file as a whole cannot be read
└── SigningKeyError     no usable signing key (configuration)
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError


class TokenServiceError(Exception):
    """Base of every error this service raises on purpose."""


class InvalidRequest(TokenServiceError):
    """A request field is missing or malformed."""


class SubjectNotFound(TokenServiceError):
    """No live subject has that kind and id."""


class ImportRejected(TokenServiceError):
    """The import file as a whole cannot be read (format, size, encoding, header)."""


class SigningKeyError(TokenServiceError):
    """No usable signing key: the keys directory or settings are wrong."""


# Checked by class, most specific first; anything unlisted becomes INTERNAL. A fixed message
# replaces the error's own where that could leak internals (driver errors quote SQL and hosts).
STATUS_CODES: dict[type[Exception], tuple[str, str | None]] = {
    InvalidRequest: ("INVALID_ARGUMENT", None),
    ImportRejected: ("INVALID_ARGUMENT", None),
    SubjectNotFound: ("NOT_FOUND", None),
    SigningKeyError: ("FAILED_PRECONDITION", None),
    OperationalError: ("UNAVAILABLE", "the database is unavailable; retry shortly"),
    InterfaceError: ("UNAVAILABLE", "the database is unavailable; retry shortly"),
    IntegrityError: ("ABORTED", "another write changed the same subjects at the same time; retry"),
}
