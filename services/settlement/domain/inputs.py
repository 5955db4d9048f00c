"""What a hospital sends with every request: the msgid envelope, dates and identifiers.

A msgid is the hospital's own transaction number and our idempotency key: 30 characters,
the 12-character institution code, the sending time ``yyyyMMddHHmmss`` (China time) and
a 4-digit sequence. Its prefix must be the calling hospital's code, so one hospital can
never replay, correct or collide with another's messages.

Every reader here records a violation naming the request field instead of raising, so
one INVALID_ARGUMENT names every bad field at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum

from shared.clock import CHINA_TZ
from shared.errors import Violations
from shared.vocabulary import read_national_date

MSGID_CHARS = 30
INSTITUTION_CODE_CHARS = 12
MSGID_PATTERN = re.compile(r"^([HP][1-9][0-9]{10})([0-9]{14})([0-9]{4})$")
POOL_CODE_PATTERN = re.compile(r"^[1-9][0-9]{5}$")
# A msgid stamped further ahead than this is a clock error on the hospital's side.
MSGID_CLOCK_SKEW_MAX = timedelta(days=1)
# An encounter opened more than this long ago belongs to last year's reconciliation.
BEGIN_DATE_AGE_MAX_DAYS = 366
# Our own identifiers (mdtrt_id, setl_id) and the hospital's visit numbers.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
VISIT_NO_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,30}$")
ICD10_PATTERN = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
PSN_NO_PATTERN = re.compile(r"^[1-9][0-9]{5}[0-9A-Z]{4,24}$")
CERT_NO_CHARS_MAX = 64


class OperatorType(IntEnum):
    CLERK = 1
    KIOSK = 2
    MOBILE = 3


@dataclass(frozen=True)
class Header:
    """The validated envelope of one hospital request."""

    msgid: str
    hospital_code: str  # the msgid's prefix
    treatment_pool: str  # mdtrtarea_admvs
    insured_pool: str | None  # insuplc_admdvs, when the request is about one person
    opter_type: OperatorType


def check_msgid(msgid: str, name: str, errors: Violations, now: datetime) -> str | None:
    """The institution code of a well-formed msgid, or None after recording why not."""
    match = MSGID_PATTERN.match(msgid)
    if len(msgid) != MSGID_CHARS or match is None:
        errors.add(
            name,
            f"{MSGID_CHARS} characters: the 12-character institution code, "
            "yyyyMMddHHmmss and a 4-digit sequence",
        )
        return None
    stamp = match.group(2)  # 14 ASCII digits, by the pattern
    try:
        # Fixed-width slices: strptime's format parsing costs more on every RPC.
        sent_at = datetime(
            int(stamp[0:4]),
            int(stamp[4:6]),
            int(stamp[6:8]),
            int(stamp[8:10]),
            int(stamp[10:12]),
            int(stamp[12:14]),
            tzinfo=CHINA_TZ,
        )
    except ValueError:
        errors.add(name, f"characters 13-26 {stamp!r} are not a real time yyyyMMddHHmmss")
        return None
    if sent_at > now + MSGID_CLOCK_SKEW_MAX:
        errors.add(name, f"is stamped {sent_at:%Y-%m-%d %H:%M:%S}, in the future")
        return None
    return match.group(1)


def read_header(
    msgid: str,
    mdtrtarea_admvs: str,
    insuplc_admdvs: str,
    opter_type: int,
    *,
    insured_pool_required: bool,
    errors: Violations,
    now: datetime,
) -> Header | None:
    hospital_code = check_msgid(msgid, "header.msgid", errors, now)
    errors.check(
        bool(POOL_CODE_PATTERN.match(mdtrtarea_admvs)),
        "header.mdtrtarea_admvs",
        "the hospital's 6-digit pool code",
    )
    if insured_pool_required or insuplc_admdvs:
        errors.check(
            bool(POOL_CODE_PATTERN.match(insuplc_admdvs)),
            "header.insuplc_admdvs",
            "the patient's 6-digit insured pool code",
        )
    operator = None
    try:
        operator = OperatorType(opter_type)
    except ValueError:
        errors.add("header.opter_type", "1 clerk, 2 kiosk or 3 mobile")
    if hospital_code is None or operator is None or errors.items:
        return None
    return Header(msgid, hospital_code, mdtrtarea_admvs, insuplc_admdvs or None, operator)


def read_day(value: str, name: str, errors: Violations) -> date | None:
    """A national time field as its China-time day (``shared.vocabulary`` formats)."""
    return read_national_date(value, name, errors)


def read_begin_date(value: str, name: str, errors: Violations, today: date) -> date | None:
    """An encounter's first day: not in the future, not more than a year ago."""
    day = read_day(value, name, errors)
    if day is None:
        return None
    if day > today:
        errors.add(name, f"{day} is in the future")
        return None
    if (today - day).days > BEGIN_DATE_AGE_MAX_DAYS:
        errors.add(name, f"{day} is more than {BEGIN_DATE_AGE_MAX_DAYS} days ago")
        return None
    return day


def check_id(value: str, name: str, errors: Violations) -> None:
    errors.check(bool(ID_PATTERN.match(value)), name, "1..40 letters, digits, '_' or '-'")


def check_psn_no(value: str, name: str, errors: Violations) -> None:
    errors.check(
        bool(PSN_NO_PATTERN.match(value)),
        name,
        "the 6-digit insured pool code followed by 4..24 digits or upper-case letters",
    )


def china_now(utc_now: datetime) -> datetime:
    assert utc_now.tzinfo is not None, "naive datetimes are ambiguous"
    return utc_now.astimezone(CHINA_TZ)
