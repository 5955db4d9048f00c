"""Who may act as a designated institution (定点医药机构) on the settlement service.

A hospital or pharmacy caller (client certificate H… or P…) acts only for itself: the
msgid it sends opens with its own code, and that code is a designated institution of the
request's kind in the header's treatment pool, by the registry as of today (an
institution whose designation ended no longer acts). Trusted callers (crossclear
services, operators) act for the institution their msgid names. A hospital is never a
pharmacy here, and a pharmacy never a hospital.
"""

from __future__ import annotations

from typing import Final

from services.settlement import registry
from services.settlement.domain.inputs import Header
from shared import clock
from shared.auth import Caller, CallerKind
from shared.errors import InvalidArgument, PermissionDenied
from shared.reference import Institution, InstitutionKind, UnknownCode

HOSPITAL: Final = InstitutionKind.HOSPITAL
PHARMACY: Final = InstitutionKind.PHARMACY
_CALLER_KIND: Final = {HOSPITAL: CallerKind.HOSPITAL, PHARMACY: CallerKind.PHARMACY}


def acting_institution(
    header: Header, who: Caller, kind: InstitutionKind | None = None
) -> Institution:
    """The institution a request of caller ``who`` acts for: the caller itself, whose code
    must open the msgid (a trusted caller acts for the institution its msgid names).

    ``kind`` is the kind the request is for; None (1101, 2601, 5203, 3201/3202, which
    both kinds send) takes the kind the msgid's code names: P… a pharmacy, else a hospital.
    """
    if kind is None:
        kind = PHARMACY if header.hospital_code.startswith("P") else HOSPITAL
    noun = kind.value.lower()
    if who.kind is _CALLER_KIND[kind]:
        if header.hospital_code != who.code:
            raise PermissionDenied(
                f"msgid must start with your institution code {who.code}, not "
                f"{header.hospital_code}"
            )
    elif not who.is_trusted:
        raise PermissionDenied(f"caller {who.code} ({who.kind.value}) is not a {noun}")
    try:
        found: Institution | None = registry.institution_at(
            header.hospital_code, clock.china_today()
        )
    except UnknownCode:
        found = None
    if found is None or found.kind is not kind:
        raise PermissionDenied(f"{header.hospital_code} is not a designated {noun}")
    if header.treatment_pool != found.pool_code:
        raise InvalidArgument("header.mdtrtarea_admvs", f"the {noun}'s pool is {found.pool_code}")
    return found


# 2601: the transactions each kind of institution may name as the original.
_PHARMACY_INFNOS = frozenset({"2101", "2102", "2103"})


def check_oinfno(institution: Institution, oinfno: str) -> None:
    """A pharmacy corrects only pharmacy transactions, a hospital only hospital ones."""
    if (institution.kind is InstitutionKind.PHARMACY) != (oinfno in _PHARMACY_INFNOS):
        raise InvalidArgument(
            "oinfno", f"{oinfno} is not a transaction of a {institution.kind.value.lower()}"
        )
