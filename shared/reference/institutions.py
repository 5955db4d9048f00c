"""Designated medical institutions (定点医药机构): a sample of hospitals and pharmacies.

An institution code is 12 characters: 'H' (hospital) or 'P' (pharmacy), the 6-digit pool
code where it stands, and a 5-digit sequence, e.g. 'H45010000001'. The same code opens
every msgid the institution sends and names it in its client certificate.

The names are those of real institutions; codes and hospital levels in this sample are
modeled. A deployment replaces ``institutions.csv`` with the full designated list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from shared.reference._files import read_csv
from shared.reference.geography import UnknownCode, is_pool

INSTITUTION_CODE_RE = re.compile(r"[HP][1-9]\d{5}\d{5}")
INSTITUTION_CODE_CHARS = 12
MIN_LEVEL, MAX_LEVEL = 1, 3
_COLUMNS = ("code", "name_zh", "pool_code", "kind", "level")


class InstitutionKind(StrEnum):
    HOSPITAL = "HOSPITAL"
    PHARMACY = "PHARMACY"


_PREFIX_OF_KIND = {InstitutionKind.HOSPITAL: "H", InstitutionKind.PHARMACY: "P"}


@dataclass(frozen=True)
class Institution:
    code: str
    name_zh: str
    pool_code: str
    kind: InstitutionKind
    level: int | None  # hospital level 1–3 (一/二/三级); None for a pharmacy


def pool_of_institution_code(code: str) -> str:
    """The pool code embedded in a well-formed institution code (characters 2–7)."""
    if not INSTITUTION_CODE_RE.fullmatch(code):
        raise ValueError(f"not a 12-character institution code: {code!r}")
    return code[1:7]


def _parse_row(row: dict[str, str]) -> Institution:
    code, pool_code = row["code"], row["pool_code"]
    kind = InstitutionKind(row["kind"])
    if not INSTITUTION_CODE_RE.fullmatch(code) or code[0] != _PREFIX_OF_KIND[kind]:
        raise ValueError(f"institutions.csv: bad code {code!r} for kind {kind}")
    if code[1:7] != pool_code or not is_pool(pool_code):
        raise ValueError(f"institutions.csv: {code} names pool {pool_code!r}")
    level = int(row["level"]) if row["level"] else None
    hospital = kind is InstitutionKind.HOSPITAL
    if hospital != (level is not None) or (
        level is not None and not MIN_LEVEL <= level <= MAX_LEVEL
    ):
        raise ValueError(f"institutions.csv: {code} has level {row['level']!r}")
    return Institution(code, row["name_zh"], pool_code, kind, level)


@cache
def _institutions() -> MappingProxyType[str, Institution]:
    by_code: dict[str, Institution] = {}
    for row in read_csv("institutions.csv", _COLUMNS):
        institution = _parse_row(row)
        if institution.code in by_code:
            raise ValueError(f"institutions.csv: code {institution.code} repeated")
        by_code[institution.code] = institution
    return MappingProxyType(by_code)


def institutions() -> tuple[Institution, ...]:
    """Every designated institution: hospitals and pharmacies."""
    return tuple(_institutions().values())


def hospitals() -> tuple[Institution, ...]:
    return tuple(i for i in institutions() if i.kind is InstitutionKind.HOSPITAL)


def pharmacies() -> tuple[Institution, ...]:
    return tuple(i for i in institutions() if i.kind is InstitutionKind.PHARMACY)


def institutions_in_pool(pool_code: str) -> tuple[Institution, ...]:
    return tuple(i for i in institutions() if i.pool_code == pool_code)


def get_institution(code: str) -> Institution:
    """A hospital or pharmacy by code (what a msgid or client certificate names)."""
    try:
        return _institutions()[code]
    except KeyError:
        raise UnknownCode("institution", code) from None


def get_hospital(code: str) -> Institution:
    """A hospital by code; a pharmacy code is unknown here."""
    institution = get_institution(code)
    if institution.kind is not InstitutionKind.HOSPITAL:
        raise UnknownCode("hospital", code)
    return institution


def is_institution(code: str) -> bool:
    return code in _institutions()
