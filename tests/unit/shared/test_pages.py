"""Page sizes and opaque page tokens of the paged listings."""

from __future__ import annotations

import pytest

from shared.errors import InvalidArgument
from shared.pages import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_TOKEN_CHARS,
    int_key,
    next_token,
    page_after,
    page_size_of,
    text_key,
)
from shared.pb.crossclear.common.v1 import common_pb2


def test_the_page_size_defaults_and_is_capped() -> None:
    assert page_size_of(common_pb2.PageRequest(), 500) == DEFAULT_PAGE_SIZE
    assert page_size_of(common_pb2.PageRequest(page_size=7), 500) == 7
    assert page_size_of(common_pb2.PageRequest(page_size=9_999), 500) == 500
    with pytest.raises(InvalidArgument, match="page_size"):
        page_size_of(common_pb2.PageRequest(page_size=-1), 500)


@pytest.mark.parametrize("key", ["S202601450100", 42, ["450100", "440100"]])
def test_a_full_page_gives_the_token_of_its_last_key(key: object) -> None:
    token = next_token([1, 2], 2, key)
    assert page_after(common_pb2.PageRequest(page_token=token)) == key


def test_a_short_page_is_the_last() -> None:
    assert next_token([1], 2, "x") == ""
    assert page_after(common_pb2.PageRequest()) is None


@pytest.mark.parametrize("token", ["%%%", "e30", "a" * (MAX_PAGE_TOKEN_CHARS + 1)])
def test_a_token_not_issued_here_is_refused(token: str) -> None:
    page = common_pb2.PageRequest(page_token=token)
    with pytest.raises(InvalidArgument, match="page_token"):
        int_key(page_after(page))


def test_keys_are_checked_against_the_listing() -> None:
    assert text_key(None) is None and text_key("S1") == "S1"
    assert int_key(None) == 0 and int_key(3) == 3
    for bad in (True, -1, "3"):
        with pytest.raises(InvalidArgument):
            int_key(bad)
    with pytest.raises(InvalidArgument):
        text_key(3)
