"""The image service's errors, and the one table that maps them to gRPC status codes.

ImageServiceError
├── InvalidOptions     a render option is out of range or malformed
└── TextTooLong        the text does not fit a version-40 symbol at the chosen level
"""

from __future__ import annotations


class ImageServiceError(Exception):
    """Base of every error this service raises on purpose."""


class InvalidOptions(ImageServiceError):
    """A render option is out of range or malformed; the message names it."""


class TextTooLong(ImageServiceError):
    """The text does not fit a version-40 QR symbol at the chosen error-correction level."""


# Checked by class, most specific first; anything unlisted becomes INTERNAL.
STATUS_CODES: dict[type[Exception], tuple[str, str | None]] = {
    InvalidOptions: ("INVALID_ARGUMENT", None),
    TextTooLong: ("INVALID_ARGUMENT", None),
}
