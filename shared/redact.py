"""Masking personal data in log events: by key, and anywhere in free text.

What is masked in free text (``redact_text``):

- 18-character ID and residence-permit numbers (17 digits + digit or X) → 1101**********4514
- home-return permit numbers (H/M + 8 or 10 digits) → H1*****78
- mainland mobile numbers 1[3-9]xxxxxxxxx, with or without +86 → 138****5678
- Hong Kong / Macau numbers written with +852 / +853 and 8 digits → +852****4567

Each pattern must stand alone: the characters on either side may not be ASCII letters or
digits. That is what keeps a 30-character msgid ('H45010000001' + '20261122103000' +
'0001'), a 12-character institution code, a pool code or an amount intact: the digits
inside them are never a token of their own. Chinese text around a number does not shield
it ("证件号110101199003074514已登记" is masked). The boundary is explicit rather than
``\\b`` because ``\\b`` counts Chinese characters as word characters. One exception: an
18-character run with letters (but no digits) around it, as in "ID110101199003074514",
is masked when it is a valid ID number (province, birth date, check digit).

By key (``redact_value``): values under a person-name key are masked as names, under an
ID key as document numbers, under a phone key as phone numbers, under a secret key
replaced entirely; every string then also passes ``redact_text``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from shared.errors import InvalidArgument
from shared.identity import (
    document_type_of_eighteen,
    mask_document,
    mask_name,
    mask_phone,
    validate_document,
)

MAX_TEXT_CHARS = 65_536  # a longer log value is cut: a log line that size is a bug anyway
MAX_DEPTH = 6  # nesting walked by redact_value; deeper values are replaced, not leaked
MAX_ITEMS = 1_000  # items of one list or mapping walked by redact_value
SECRET_MASK = "***"
DEPTH_MASK = "[redacted: nested too deep]"

SENSITIVE_NAME_KEYS = frozenset(
    {
        "name",
        "psn_name",
        "full_name",
        "person_name",
        "patient_name",
        "insured_name",
        "holder_name",
        "contact_name",
        "applicant_name",
        "agent_name",
        "family_name",
        "given_name",
        "conn_name",
    }
)
SENSITIVE_ID_KEYS = frozenset(
    {
        "certno",
        "cert_no",
        "psn_cert_no",
        "mdtrt_cert_no",
        "id_number",
        "id_no",
        "idcard",
        "id_card",
        "id_card_no",
        "resident_id",
        "document_number",
        "document_no",
        "identity_number",
        "permit_number",
        "passport_no",
    }
)
SENSITIVE_PHONE_KEYS = frozenset(
    {
        "phone",
        "phone_number",
        "mobile",
        "mobile_phone",
        "tel",
        "telephone",
        "psn_tel",
        "conn_tel",
        "contact_phone",
    }
)
# Bearer-like values: showing even part of them helps an attacker, so they go entirely.
SENSITIVE_SECRET_KEYS = frozenset(
    {
        "e_voucher",
        "e_voucher_token",
        "ec_token",
        "ectoken",
        "token",
        "access_token",
        "password",
        "secret",
        "authorization",
    }
)

_CACHED_TEXT_CHARS = 64
_SHORTEST_NUMBER_TOKEN = 10**10  # the smallest 11-digit number
_BEFORE = r"(?<![0-9A-Za-z])"
_AFTER = r"(?![0-9A-Za-z])"
_PATTERN = re.compile(
    _BEFORE
    + r"(?:"
    + r"(?P<id18>\d{17}[\dXx])"
    + r"|(?P<home_return>[HMhm](?:\d{10}|\d{8}))"
    + r"|(?P<mobile>(?:\+?86[ -]?)?1[3-9]\d{9})"
    + r"|(?P<hk_mo_phone>\+85[23][ -]?\d{4}[ -]?\d{4})"
    + r")"
    + _AFTER
    # An 18-character run glued to letters ("ID450103...") is masked only if it is a
    # valid ID number, so identifiers like 'S' + timestamp + sequence stay intact.
    + r"|(?<!\d)(?P<id18_glued>\d{17}[\dXx])(?!\d)"
)


def _is_valid_eighteen(token: str) -> bool:
    normalised = token.upper()
    try:
        validate_document(document_type_of_eighteen(normalised), normalised)
    except InvalidArgument:
        return False
    return True


def _mask_match(match: re.Match[str]) -> str:
    token = match.group(0)
    if match.lastgroup == "id18_glued":
        return mask_document(token) if _is_valid_eighteen(token) else token
    if match.lastgroup in ("id18", "home_return"):
        return mask_document(token)
    return mask_phone(token)


def redact_text(text: str) -> str:
    """``text`` with every ID, permit and phone number in it masked (single pass)."""
    if len(text) > MAX_TEXT_CHARS:
        cut = len(text) - MAX_TEXT_CHARS
        text = f"{text[:MAX_TEXT_CHARS]}…[{cut} characters cut]"
    return _PATTERN.sub(_mask_match, text)


@functools.lru_cache(maxsize=1024)
def _key_class(key: str) -> str | None:
    # Log keys are a small, fixed set: each is classified once per process.
    normalised = key.strip().lower().replace("-", "_")
    for name, keys in (
        ("name", SENSITIVE_NAME_KEYS),
        ("id", SENSITIVE_ID_KEYS),
        ("phone", SENSITIVE_PHONE_KEYS),
        ("secret", SENSITIVE_SECRET_KEYS),
    ):
        if normalised in keys:
            return name
    return None


def _mask_scalar(key_class: str | None, text: str) -> str:
    if key_class == "secret":
        return SECRET_MASK
    if key_class == "name":
        text = mask_name(text)
    elif key_class == "id":
        text = mask_document(text)
    elif key_class == "phone":
        text = mask_phone(text)
    return redact_text(text)


@functools.lru_cache(maxsize=4096)
def _redact_short_text(text: str) -> str:
    return redact_text(text)


def _redact(key: str, value: object, depth: int) -> object:
    if depth > MAX_DEPTH:
        return DEPTH_MASK
    if isinstance(value, str):
        key_class = _key_class(key)
        if key_class is None and len(value) <= _CACHED_TEXT_CHARS:
            # Log values repeat (RPC and status names, caller codes, event names): short
            # ones under an ordinary key are redacted once and remembered (bounded).
            return _redact_short_text(value)
        return _mask_scalar(key_class, value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _redact_int(key, value)
    if isinstance(value, Mapping):
        items = list(value.items())[:MAX_ITEMS]
        return {k: _redact(str(k), v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_redact(key, v, depth + 1) for v in value[:MAX_ITEMS]]
    return value


def _redact_int(key: str, value: int) -> object:
    # A phone or ID stored as a number is still personal data; a plain amount is left as is.
    # Under an ordinary key only a run of 11+ digits can be one (a mobile number is the
    # shortest, and permit numbers start with a letter), so smaller numbers pass as they are.
    if -_SHORTEST_NUMBER_TOKEN < value < _SHORTEST_NUMBER_TOKEN and _key_class(key) is None:
        return value
    text = str(value)
    masked = _mask_scalar(_key_class(key), text)
    return value if masked == text else masked


def redact_value(key: str, value: object) -> object:
    """``value`` masked as the key says, then free-text-redacted; containers are walked.

    Strings come back as strings; an int comes back unchanged unless it had to be masked;
    mappings and lists come back as new dicts and lists (at most ``MAX_ITEMS`` items each,
    ``MAX_DEPTH`` levels deep). Other values are returned as they are.
    """
    return _redact(key, value, 0)


def redact_mapping(mapping: Mapping[str, object]) -> dict[str, object]:
    """Every value of a flat or nested mapping passed through :func:`redact_value`."""
    return {key: _redact(key, value, 1) for key, value in list(mapping.items())[:MAX_ITEMS]}
