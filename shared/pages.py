"""Paged listings over gRPC: the page size asked for, and opaque page tokens.

A token is the JSON of the last row's key, base64url: the next page starts after it. A
token this service did not issue is refused as ``page.page_token``, never trusted: the
key read from it is checked against the form the listing expects (``text_key``,
``int_key``) before it reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Final

from shared.errors import InvalidArgument

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_TOKEN_CHARS: Final = 200
_NOT_OURS: Final = "not a token this service issued"


def page_size_of(page: Any, max_size: int) -> int:
    """The rows a page asked for (``common.v1.PageRequest``): the default when unset."""
    size = int(page.page_size)
    if size < 0:
        raise InvalidArgument("page.page_size", "must not be negative")
    return min(size or DEFAULT_PAGE_SIZE, max_size)


def page_after(page: Any) -> Any:
    """The key a page starts after, from the opaque token of the previous page."""
    token = str(page.page_token)
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        raise InvalidArgument("page.page_token", _NOT_OURS)
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise InvalidArgument("page.page_token", _NOT_OURS) from None


def next_token(rows: Sequence[Any], limit: int, key: Any) -> str:
    """The token of the next page: the last row's key when the page was full, else none."""
    if len(rows) != limit:
        return ""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def text_key(after: Any) -> str | None:
    """A page key that is a text (an id): None for the first page."""
    if after is not None and not isinstance(after, str):
        raise InvalidArgument("page.page_token", _NOT_OURS)
    return after


def int_key(after: Any) -> int:
    """A page key that is a position (line number, sequence): 0 for the first page."""
    if after is None:
        return 0
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise InvalidArgument("page.page_token", _NOT_OURS)
    return after
