"""Who may file, maintain persons, read coverage and see channel figures."""

from __future__ import annotations

import dataclasses

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
from shared.auth import Caller, EndUser, EndUserKind, parse_caller
from shared.errors import PermissionDenied

NANNING, GUANGZHOU = "450100", "440100"
NANNING_HOSPITAL = "H45010000001"
PERSON, OTHER_PERSON = "450100A1B2C3D4", "450100FFFF0000"


def signed_in(code: str, subject: str = PERSON, pool: str | None = None) -> Caller:
    """A channel caller with its end user: a person, or (pool given) a counter clerk."""
    kind = EndUserKind.STAFF if pool else EndUserKind.PERSON
    user = EndUser(kind, subject, "https://idp.example/" + code, pool)
    return dataclasses.replace(parse_caller(code), end_user=user)


def allowed(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize(
    ("caller", "channel", "referring", "ok"),
    [
        ("channel-app", Channel.APP, None, False),  # no end user
        ("channel-counter", Channel.COUNTER, None, False),
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
    ("caller", "channel", "psn_no", "ok"),
    [
        (signed_in("channel-app"), Channel.APP, PERSON, True),
        (signed_in("channel-app"), Channel.APP, None, True),  # the filing's pool is theirs
        (signed_in("channel-app"), Channel.APP, OTHER_PERSON, False),
        (signed_in("channel-app"), Channel.WEB, PERSON, False),
        (signed_in("channel-app", "440100A1B2C3D4"), Channel.APP, None, False),
        (signed_in("channel-web"), Channel.WEB, PERSON, True),
        (signed_in("channel-mini-program"), Channel.COUNTER, PERSON, False),
        (signed_in("channel-counter", "clerk-7", NANNING), Channel.COUNTER, PERSON, True),
        (signed_in("channel-counter", "clerk-7", NANNING), Channel.COUNTER, OTHER_PERSON, True),
        (signed_in("channel-counter", "clerk-7", GUANGZHOU), Channel.COUNTER, PERSON, False),
    ],
)
def test_a_channel_files_only_for_its_end_user(
    caller: Caller, channel: Channel, psn_no: str | None, ok: bool
) -> None:
    assert allowed(check_may_file, caller, channel, NANNING, None, psn_no) is ok
    if channel_of(caller) is channel:
        assert allowed(check_may_read_filings, caller, NANNING, psn_no) is ok


def test_acted_by_names_the_end_user() -> None:
    assert signed_in("channel-web").acted_by == f"person:{PERSON}"
    assert signed_in("channel-counter", "clerk-7", NANNING).acted_by == "staff:450100:clerk-7"
    assert parse_caller(NANNING).acted_by == NANNING


@pytest.mark.parametrize(
    ("caller", "maintain", "read_person", "read_filings"),
    [
        (NANNING, True, True, True),
        ("45", True, True, True),
        (GUANGZHOU, False, False, False),
        ("44", False, False, False),
        ("channel-app", False, False, False),  # no end user: see below
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
