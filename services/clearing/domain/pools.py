"""Funding pools, provinces, clearing levels and the hubs money flows through.

A pool is a 6-digit administrative code whose first two digits name its province. The
province is derived from the code alone, so the clearing core needs no reference table.
Likewise an institution's kind (hospital or pharmacy) is the first letter of its code.
"""

from __future__ import annotations

from enum import StrEnum

from shared.errors import InvalidArgument
from shared.reference.institutions import InstitutionKind

POOL_CODE_CHARS = 6
PROVINCE_CODE_CHARS = 2
HOSPITAL_CODE_CHARS = 12
NATIONAL_HUB = "NATIONAL"
NATIONAL_SCOPE = "NATIONAL"


class ClearingLevel(StrEnum):
    """Where a pool pair clears: inside one province, or between provinces."""

    PROVINCIAL = "PROVINCIAL"
    NATIONAL = "NATIONAL"


def is_pool_code(code: str) -> bool:
    return len(code) == POOL_CODE_CHARS and code.isascii() and code.isdigit() and code[0] != "0"


def check_pool_code(code: str, field_name: str) -> str:
    if not is_pool_code(code):
        raise InvalidArgument(field_name, f"not a 6-digit pool code: {code!r}")
    return code


# An institution code's first letter (shared/reference/institutions.py); statements show
# the kinds in this order.
_KIND_OF_PREFIX = {"H": InstitutionKind.HOSPITAL, "P": InstitutionKind.PHARMACY}
INSTITUTION_KINDS: tuple[InstitutionKind, ...] = tuple(_KIND_OF_PREFIX.values())


def check_hospital_code(code: str, field_name: str = "hospital_code") -> str:
    valid = (
        len(code) == HOSPITAL_CODE_CHARS
        and code.isascii()
        and code.isalnum()
        and code[0] in _KIND_OF_PREFIX
    )
    if not valid:
        raise InvalidArgument(
            field_name,
            f"not a 12-character institution code (H… a hospital, P… a pharmacy): {code!r}",
        )
    return code


def institution_kind_of(code: str) -> InstitutionKind:
    """Hospital or pharmacy, from a code check_hospital_code accepts."""
    return _KIND_OF_PREFIX[code[0]]


def province_of(pool: str) -> str:
    """'450100' → '45'. The province clears on behalf of all its pools nationally."""
    check_pool_code(pool, "pool")
    return pool[:PROVINCE_CODE_CHARS]


def clearing_level(insured_pool: str, treatment_pool: str) -> ClearingLevel | None:
    """The level a pair clears at; None for the same pool, which is local and not cleared."""
    if insured_pool == treatment_pool:
        return None
    if province_of(insured_pool) == province_of(treatment_pool):
        return ClearingLevel.PROVINCIAL
    return ClearingLevel.NATIONAL


def provincial_hub(province: str) -> str:
    """The provincial centre's party code, e.g. 'CENTRE-45'.

    Not '450000': that code is a pool of its own (the region-level pool) and must stay
    distinguishable from the centre that clears on behalf of the province.
    """
    return f"CENTRE-{province}"
