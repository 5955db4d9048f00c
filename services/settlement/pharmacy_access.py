"""Who may act as a designated pharmacy (定点零售药店) on the settlement service.

A pharmacy caller (client certificate P…) acts only for itself: the msgid it sends opens
with its own code, and that code is a designated pharmacy of the header's treatment pool.
Trusted callers (crossclear services, operators) act for the pharmacy their msgid names.
A hospital is never a pharmacy here, and a pharmacy never a hospital (the hospital
transactions check that on their side).
"""

from __future__ import annotations

from services.settlement import registry
from services.settlement.domain.inputs import Header
from shared import clock
from shared.auth import CallerKind, caller
from shared.errors import InvalidArgument, PermissionDenied
from shared.reference import Institution, InstitutionKind, UnknownCode


def acting_pharmacy(header: Header) -> Institution:
    """The pharmacy a request acts for: the caller, whose code must open the msgid."""
    who = caller()
    if who.kind is CallerKind.PHARMACY:
        if header.hospital_code != who.code:
            raise PermissionDenied(
                f"msgid must start with your institution code {who.code}, not "
                f"{header.hospital_code}"
            )
    elif not who.is_trusted:
        raise PermissionDenied(f"caller {who.code} ({who.kind.value}) is not a pharmacy")
    pharmacy = _pharmacy(header.hospital_code)
    if header.treatment_pool != pharmacy.pool_code:
        raise InvalidArgument(
            "header.mdtrtarea_admvs", f"the pharmacy's pool is {pharmacy.pool_code}"
        )
    return pharmacy


def _pharmacy(code: str) -> Institution:
    # The registry as of today: a pharmacy whose designation ended no longer acts.
    try:
        institution: Institution | None = registry.institution_at(code, clock.china_today())
    except UnknownCode:
        institution = None
    if institution is None or institution.kind is not InstitutionKind.PHARMACY:
        raise PermissionDenied(f"{code} is not a designated pharmacy")
    return institution


# 2601: the transactions each kind of institution may name as the original.
_PHARMACY_INFNOS = frozenset({"2101", "2102", "2103"})


def check_oinfno(institution: Institution, oinfno: str) -> None:
    """A pharmacy corrects only pharmacy transactions, a hospital only hospital ones."""
    if (institution.kind is InstitutionKind.PHARMACY) != (oinfno in _PHARMACY_INFNOS):
        raise InvalidArgument(
            "oinfno", f"{oinfno} is not a transaction of a {institution.kind.value.lower()}"
        )
