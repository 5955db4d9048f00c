"""Identity documents: validation, the facts an ID number carries, generation and masking.

Document types accepted to identify an insured person:

- RESIDENT_ID — mainland resident identity card (居民身份证), 18 characters: 6-digit
  region code whose first two digits are a mainland province, 8-digit birth date, 3-digit
  sequence (odd = male, even = female), ISO 7064 MOD 11-2 check character (0–9 or X).
- HK / MO / TW_RESIDENCE_PERMIT — residence permits for Hong Kong, Macau and Taiwan
  residents (港澳台居民居住证): the same 18-character layout with region code 810000,
  820000 or 830000.
- HK_MO_HOME_RETURN_PERMIT — 港澳居民来往内地通行证: 'H' (Hong Kong) or 'M' (Macau) and
  8 digits (card issued since 2013), or the older booklet number with 10 digits.
- E_VOUCHER — the medical-insurance e-voucher token (医保电子凭证) scanned from the
  person's QR code: 16–64 characters of [A-Za-z0-9_-]. It is an opaque, case-sensitive
  token, so it is never upper-cased.

Errors never echo the number: an error message ends up in logs and client screens.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum

from shared.errors import InvalidArgument
from shared.reference import is_province
from shared.vocabulary import Sex

DEFAULT_FIELD = "identity.number"
MAX_DOCUMENT_CHARS = 64  # checked before any parsing, whatever the type
MIN_BIRTH_YEAR = 1890
EIGHTEEN_CHARS = 18
MASK_CHAR = "*"
MASK_KEEP_CHARS = 4  # visible at each end of a masked document number, at most

_EIGHTEEN_RE = re.compile(r"\d{17}[\dX]")
_HOME_RETURN_RE = re.compile(r"[HM](?:\d{8}|\d{10})")
_E_VOUCHER_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAINLAND_MOBILE_RE = re.compile(r"(\+?86)?(1[3-9]\d{9})")
_HK_MO_TW_PHONE_RE = re.compile(r"(\+85[23]|\+886)(\d{8,9})")
_PHONE_RE = re.compile(r"(\+?)(\d{5,20})")
_NAME_SEPARATORS = frozenset(" ·•.-'")

# ISO 7064 MOD 11-2 as GB 11643 applies it: weight of position i is 2^(17-i) mod 11.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"


class DocumentType(StrEnum):
    RESIDENT_ID = "RESIDENT_ID"
    HK_RESIDENCE_PERMIT = "HK_RESIDENCE_PERMIT"
    MO_RESIDENCE_PERMIT = "MO_RESIDENCE_PERMIT"
    TW_RESIDENCE_PERMIT = "TW_RESIDENCE_PERMIT"
    HK_MO_HOME_RETURN_PERMIT = "HK_MO_HOME_RETURN_PERMIT"
    E_VOUCHER = "E_VOUCHER"


RESIDENCE_PERMIT_PREFIXES: dict[DocumentType, str] = {
    DocumentType.HK_RESIDENCE_PERMIT: "810000",
    DocumentType.MO_RESIDENCE_PERMIT: "820000",
    DocumentType.TW_RESIDENCE_PERMIT: "830000",
}
_PERMIT_TYPE_OF_PREFIX = {prefix: kind for kind, prefix in RESIDENCE_PERMIT_PREFIXES.items()}
EIGHTEEN_CHAR_TYPES = frozenset({DocumentType.RESIDENT_ID, *RESIDENCE_PERMIT_PREFIXES})


def check_char(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits of an 18-character number."""
    if len(first17) != EIGHTEEN_CHARS - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _birth_date_or_none(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def _check_birth(number: str, field: str, today: date | None) -> None:
    birth = _birth_date_or_none(number)
    if birth is None:
        raise InvalidArgument(field, "birth date (characters 7–14) is not a valid date")
    if birth.year < MIN_BIRTH_YEAR:
        raise InvalidArgument(field, f"birth date (characters 7–14) is before {MIN_BIRTH_YEAR}")
    if today is not None and birth > today:
        raise InvalidArgument(field, "birth date (characters 7–14) is in the future")


def _check_region(doc_type: DocumentType, number: str, field: str) -> None:
    permit_type = _PERMIT_TYPE_OF_PREFIX.get(number[:6])
    if doc_type is DocumentType.RESIDENT_ID:
        if permit_type is not None:
            raise InvalidArgument(field, f"this is a residence-permit number; use {permit_type}")
        if not is_province(number[:2]):
            raise InvalidArgument(field, "region code does not start with a mainland province")
        return
    expected = RESIDENCE_PERMIT_PREFIXES[doc_type]
    if number[:6] != expected:
        raise InvalidArgument(field, f"a {doc_type} number starts with {expected}")


def _validate_eighteen(doc_type: DocumentType, number: str, field: str, today: date | None) -> str:
    if len(number) != EIGHTEEN_CHARS or not _EIGHTEEN_RE.fullmatch(number):
        raise InvalidArgument(field, "must be 17 digits followed by a digit or X (18 characters)")
    _check_region(doc_type, number, field)
    _check_birth(number, field, today)
    if check_char(number[:17]) != number[17]:
        raise InvalidArgument(field, "check digit mismatch")
    return number


def validate_document(
    doc_type: DocumentType, number: str, field: str = DEFAULT_FIELD, *, today: date | None = None
) -> str:
    """The normalised number (trimmed; upper-case X and H/M), or InvalidArgument on ``field``.

    ``today``, when given, also rejects birth dates in the future; the core takes the date
    from its caller rather than reading a clock.
    """
    if len(number) > MAX_DOCUMENT_CHARS:
        raise InvalidArgument(field, f"longer than {MAX_DOCUMENT_CHARS} characters")
    trimmed = number.strip()
    if not trimmed:
        raise InvalidArgument(field, "is empty")
    if doc_type is DocumentType.E_VOUCHER:
        if not _E_VOUCHER_RE.fullmatch(trimmed):
            raise InvalidArgument(field, "an e-voucher token is 16–64 characters [A-Za-z0-9_-]")
        return trimmed
    normalised = trimmed.upper()
    if doc_type is DocumentType.HK_MO_HOME_RETURN_PERMIT:
        if not _HOME_RETURN_RE.fullmatch(normalised):
            raise InvalidArgument(
                field, "a home-return permit is H or M followed by 8 or 10 digits"
            )
        return normalised
    return _validate_eighteen(doc_type, normalised, field, today)


def document_type_of_eighteen(number: str) -> DocumentType:
    """RESIDENT_ID or the residence-permit type an 18-character number's prefix names."""
    return _PERMIT_TYPE_OF_PREFIX.get(number.strip()[:6], DocumentType.RESIDENT_ID)


def _valid_eighteen(number: str, field: str) -> str:
    normalised = number.strip().upper()
    return validate_document(document_type_of_eighteen(normalised), normalised, field)


def birth_date_of(number: str, field: str = DEFAULT_FIELD) -> date:
    """Birth date of a valid resident ID or residence-permit number."""
    birth = _birth_date_or_none(_valid_eighteen(number, field))
    assert birth is not None  # validated above
    return birth


def sex_of(number: str, field: str = DEFAULT_FIELD) -> Sex:
    """Sex of the holder of a valid resident ID or residence-permit number (17th digit)."""
    return Sex.MALE if int(_valid_eighteen(number, field)[16]) % 2 else Sex.FEMALE


def _make_eighteen(region6: str, birth: date, seq3: int) -> str:
    if not 0 <= seq3 <= 999:
        raise ValueError(f"seq3 must be 0–999, got {seq3}")
    if not MIN_BIRTH_YEAR <= birth.year <= 9999:
        raise ValueError(f"birth year must be at least {MIN_BIRTH_YEAR}")
    first17 = f"{region6}{birth:%Y%m%d}{seq3:03d}"
    return first17 + check_char(first17)


def make_resident_id(region6: str, birth: date, seq3: int) -> str:
    """A valid resident ID number. An odd ``seq3`` makes a male holder, an even one female."""
    if len(region6) != 6 or not region6.isascii() or not region6.isdigit():
        raise ValueError("region6 must be 6 digits")
    if region6 in _PERMIT_TYPE_OF_PREFIX:
        raise ValueError("region6 is a residence-permit prefix; use make_residence_permit")
    if not is_province(region6[:2]):
        raise ValueError(f"region6 must start with a mainland province code, got {region6[:2]}")
    return _make_eighteen(region6, birth, seq3)


def make_residence_permit(prefix: str | DocumentType, birth: date, seq3: int) -> str:
    """A valid residence-permit number; ``prefix`` is 810000/820000/830000 or the permit type."""
    if isinstance(prefix, DocumentType):
        if prefix not in RESIDENCE_PERMIT_PREFIXES:
            raise ValueError(f"{prefix} is not a residence permit")
        prefix = RESIDENCE_PERMIT_PREFIXES[prefix]
    if prefix not in _PERMIT_TYPE_OF_PREFIX:
        raise ValueError("prefix must be 810000 (HK), 820000 (MO) or 830000 (TW)")
    return _make_eighteen(prefix, birth, seq3)


def make_home_return_permit(region: str, serial: int) -> str:
    """A home-return permit number: region 'H' or 'M' and an 8-digit serial."""
    if region not in ("H", "M"):
        raise ValueError("region must be 'H' (Hong Kong) or 'M' (Macau)")
    if not 0 <= serial <= 99_999_999:
        raise ValueError("serial must have at most 8 digits")
    return f"{region}{serial:08d}"


def mask_document(number: str) -> str:
    """First 4 and last 4 characters visible, stars between: 1101**********4514.

    Short numbers show less — at most a quarter of the characters at each end — so at
    least half of any number stays hidden (a 9-character permit: H1*****78).
    """
    text = number.strip()
    keep = min(MASK_KEEP_CHARS, len(text) // 4)
    if keep == 0:
        return MASK_CHAR * len(text)
    return text[:keep] + MASK_CHAR * (len(text) - 2 * keep) + text[-keep:]


def mask_name(name: str) -> str:
    """First character visible, every other letter starred: 张三丰 → 张**, John Smith → J*** *****.

    Separators (space, the middle dot of transliterated names, hyphen) are kept so the
    masked name still reads as a name.
    """
    text = name.strip()
    if len(text) <= 1:
        return MASK_CHAR * len(text)
    rest = "".join(ch if ch in _NAME_SEPARATORS else MASK_CHAR for ch in text[1:])
    return text[0] + rest


def mask_phone(phone: str) -> str:
    """Mainland mobile: 13812345678 → 138****5678 (a +86 prefix is kept). Hong Kong, Macau
    and Taiwan numbers keep their prefix and last 4 digits: +85291234567 → +852****4567.
    Any other number keeps only its last 4 digits; anything else is starred entirely."""
    compact = re.sub(r"[\s()-]", "", phone)
    mobile = _MAINLAND_MOBILE_RE.fullmatch(compact)
    if mobile:
        prefix, digits = mobile.group(1) or "", mobile.group(2)
        return f"{prefix}{digits[:3]}{MASK_CHAR * 4}{digits[-4:]}"
    other = _HK_MO_TW_PHONE_RE.fullmatch(compact) or _PHONE_RE.fullmatch(compact)
    if other:
        prefix, digits = other.group(1), other.group(2)
        return prefix + MASK_CHAR * (len(digits) - 4) + digits[-4:]
    return MASK_CHAR * len(compact)
