"""Who may file, maintain persons, read coverage and see channel figures."""

from __future__ import annotations

import pytest

from services.filing.domain import Channel
from services.filing.domain.access import (
    channel_of,
    check_may_file,
    check_may_maintain_person,
    check_may_read_filings,
    check_may_read_person,
    check_may_see_figures,
)
from shared.auth import parse_caller
from shared.errors import PermissionDenied

NANNING, GUANGZHOU = "450100", "440100"
NANNING_HOSPITAL = "H45010000001"


def allowed(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize(
    ("caller", "channel", "referring", "ok"),
    [
        ("channel-app", Channel.APP, None, True),
        ("channel-app", Channel.WEB, None, False),
        ("channel-counter", Channel.COUNTER, None, True),
        ("channel-mini-program", Channel.COUNTER, None, False),
        (NANNING, Channel.COUNTER, None, True),
        (NANNING, Channel.APP, None, False),
        (GUANGZHOU, Channel.COUNTER, None, False),
        ("45", Channel.COUNTER, None, True),
        ("44", Channel.COUNTER, None, False),
        (NANNING_HOSPITAL, Channel.COUNTER, NANNING_HOSPITAL, True),
        (NANNING_HOSPITAL, Channel.COUNTER, "H45010000002", False),
        (NANNING_HOSPITAL, Channel.COUNTER, None, False),
        (NANNING_HOSPITAL, Channel.APP, NANNING_HOSPITAL, False),
        ("svc-simulator", Channel.WEB, None, True),
        ("op-alice", Channel.APP, None, True),
    ],
)
def test_who_may_file(caller: str, channel: Channel, referring: str | None, ok: bool) -> None:
    assert allowed(check_may_file, parse_caller(caller), channel, NANNING, referring) is ok


@pytest.mark.parametrize(
    ("caller", "maintain", "read_person", "read_filings"),
    [
        (NANNING, True, True, True),
        ("45", True, True, True),
        (GUANGZHOU, False, False, False),
        ("44", False, False, False),
        ("channel-app", False, False, True),
        ("svc-settlement", True, True, True),
        (NANNING_HOSPITAL, False, False, False),
    ],
)
def test_who_may_read_and_maintain_persons(
    caller: str, maintain: bool, read_person: bool, read_filings: bool
) -> None:
    c = parse_caller(caller)
    assert allowed(check_may_maintain_person, c, NANNING) is maintain
    assert allowed(check_may_read_person, c, NANNING) is read_person
    assert allowed(check_may_read_filings, c, NANNING) is read_filings


@pytest.mark.parametrize(
    ("caller", "region", "ok"),
    [
        (NANNING, NANNING, True),
        (NANNING, "45", False),
        (NANNING, None, False),
        ("45", "45", True),
        ("45", NANNING, True),
        ("45", GUANGZHOU, False),
        ("op-alice", None, True),
        ("channel-app", NANNING, False),
    ],
)
def test_who_may_see_figures(caller: str, region: str | None, ok: bool) -> None:
    assert allowed(check_may_see_figures, parse_caller(caller), region) is ok


def test_channel_of_caller() -> None:
    assert channel_of(parse_caller("channel-mini-program")) is Channel.MINI_PROGRAM
    assert channel_of(parse_caller(NANNING)) is None
