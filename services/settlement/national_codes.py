"""Readers of the national codes a hospital sends: our enums or the national strings.

A HIS speaks the platform's strings ("310", "14", "02", "M01600"). Every request that
carries an insurance type, medical type or medical-certificate type as one of our enums
also has the national string beside it (``insutype_code``, ``med_type_code``,
``mdtrt_cert_type_code``): either may be sent, both must agree (a conflict is
INVALID_ARGUMENT naming both fields). Chronic/special diseases are sent by their national
code (``dise_codg``); the project's former codes MT01…MT10 are accepted as documented
legacy aliases (``shared.vocabulary.LEGACY_CHRONIC_ALIASES``) and mapped here, at the
edge, so nothing behind it sees them.

Every reader records violations in ``errors`` (one INVALID_ARGUMENT names every bad
field) and returns None for what it could not read.
"""

from __future__ import annotations

from typing import Final

from services.settlement.domain.codes import ChronicDisease, Insutype, VisitType
from shared import pb_enums, vocabulary
from shared.errors import Violations
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

OUTPATIENT_VISITS: Final = frozenset({VisitType.ORDINARY_OUTPATIENT, VisitType.CHRONIC_OUTPATIENT})
ALL_VISITS: Final = frozenset(VisitType)

# mdtrt_cert_type: national code <-> our enum.
_CERT_TYPES: Final = {
    "01": pb.CERT_TYPE_E_VOUCHER,
    "02": pb.CERT_TYPE_RESIDENT_ID,
    "03": pb.CERT_TYPE_SOCIAL_SECURITY_CARD,
}
_CERT_CODES: Final[dict[int, str]] = {int(v): k for k, v in _CERT_TYPES.items()}


def _enum_code(value: int, known: frozenset[str]) -> str | None:
    """The national code of an enum whose numbers are the codes (insutype, med_type)."""
    if value == 0:
        return None
    return str(value) if str(value) in known else f"<{value}>"


def _pick(
    errors: Violations, field: str, enum_code: str | None, code: str, allowed: frozenset[str]
) -> str | None:
    """The national code sent as the enum ``field`` (``enum_code``), the string
    ``<field>_code`` (``code``), or both in agreement."""
    return vocabulary.pick_code(
        errors,
        dictionary=field,
        enum_field=field,
        enum_code=enum_code,
        code_field=f"{field}_code",
        code_text=code,
        allowed=allowed,
    )


def read_insutype(value: int, code: str, errors: Violations) -> Insutype | None:
    """``insutype`` (enum) or ``insutype_code`` ("310"/"390"); one is required."""
    allowed = frozenset(i.value for i in Insutype)
    found = _pick(errors, "insutype", _enum_code(value, allowed), code, allowed)
    if found is None and value == 0 and not code:
        errors.add("insutype", "required: 310 employee basic or 390 resident basic")
    return Insutype(found) if found else None


def read_med_type(
    value: int,
    code: str,
    allowed: frozenset[VisitType],
    errors: Violations,
    *,
    default: VisitType | None = None,
) -> VisitType | None:
    """``med_type`` (enum) or ``med_type_code`` ("11", "14", "21"); ``default`` if neither."""
    codes = frozenset(v.value for v in allowed)
    if value == 0 and not code:
        if default is None:
            errors.add("med_type", f"required: one of {', '.join(sorted(codes))}")
        return default
    found = _pick(errors, "med_type", _enum_code(value, codes), code, codes)
    return VisitType(found) if found else None


def read_cert_type(value: int, code: str, errors: Violations) -> pb.CertType.ValueType | None:
    """The ``CertType`` of ``mdtrt_cert_type`` or ``mdtrt_cert_type_code`` ("01"/"02"/"03").

    CERT_TYPE_UNSPECIFIED (0) when neither is sent; None after a violation.
    """
    if value == pb.CERT_TYPE_UNSPECIFIED and not code:
        return pb.CERT_TYPE_UNSPECIFIED
    enum_code = _CERT_CODES.get(value, f"<{value}>") if value else None
    found = _pick(errors, "mdtrt_cert_type", enum_code, code, frozenset(_CERT_TYPES))
    return _CERT_TYPES[found] if found else None


def read_disease(
    code: str, visit_type: VisitType | None, errors: Violations, field: str = "dise_codg"
) -> ChronicDisease | None:
    """The chronic/special disease of a med type 14 visit: its national code (M03900 …)
    or a legacy alias (MT01 …); refused on other visit types."""
    if visit_type is not VisitType.CHRONIC_OUTPATIENT:
        errors.check(not code, field, "only for a chronic/special outpatient visit (med_type 14)")
        return None
    national = vocabulary.national_chronic_code(code)
    if national is None:
        shown = repr(code[:20]) if code else "empty"
        errors.add(field, f"{shown} is not {vocabulary.CHRONIC_DISEASE_LIST_HINT}")
        return None
    return ChronicDisease(national)


def med_type_enum(visit_type: VisitType) -> common_pb2.MedType.ValueType:
    number: common_pb2.MedType.ValueType = pb_enums.MED_TYPE.number(visit_type)
    return number
