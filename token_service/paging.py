"""Keyset paging shared by the listings (AIP-158): page sizes and opaque page tokens."""

from __future__ import annotations

import base64
import binascii
import re

from token_service.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default, and large values are coerced to the maximum."""
    if requested < 0:
        raise InvalidRequest("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(listing: str, last: str) -> str:
    """A token naming the listing and the last key of the page."""
    return base64.urlsafe_b64encode(f"{listing}:{last}".encode()).decode()


def decode_page_token(listing: str, page_token: str, key: re.Pattern[str]) -> str:
    """The last key named by `page_token` ("" for the first page), which must match `key`."""
    if not page_token:
        return ""
    try:
        token_listing, _, last = base64.urlsafe_b64decode(page_token).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("page_token is not a token this service issued") from None
    if token_listing != listing or not key.fullmatch(last):
        raise InvalidRequest("page_token does not belong to this listing")
    return last
