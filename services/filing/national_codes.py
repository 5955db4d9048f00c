"""Readers of the national code strings a caller may send beside our enums.

Channels and hospital systems speak the platform's strings: insutype "310"/"390",
med_type "11"/"14"/"21", personal-certificate type psn_cert_type "01", "04", "17" ….
Each request field that is one of our enums has the national string beside it; either
may be sent, both must agree (a disagreement is INVALID_ARGUMENT naming both fields).
The readers return the enum number the rest of the servicer already understands.
"""

from __future__ import annotations

from typing import Final

from services.filing.domain.coverage import COVERED_VISITS
from shared import vocabulary
from shared.errors import FieldViolation, InvalidArgument, Violations
from shared.identity import RESIDENCE_PERMIT_PREFIXES, DocumentType
from shared.pb.crossclear.common.v1 import common_pb2

_VISIT_CODES: Final = frozenset(v.value for v in COVERED_VISITS)
_INSUTYPE_CODES: Final = frozenset(i.value for i in vocabulary.Insutype)

# psn_cert_type → the document types it may name (17: which permit, from the number).
_CERT_DOCUMENTS: Final[dict[str, frozenset[DocumentType]]] = {
    "01": frozenset({DocumentType.RESIDENT_ID}),
    "04": frozenset({DocumentType.HK_MO_HOME_RETURN_PERMIT}),
    "05": frozenset({DocumentType.HK_MO_HOME_RETURN_PERMIT}),
    "17": frozenset(RESIDENCE_PERMIT_PREFIXES),
}


def med_type_number(v: Violations, number: int, code: str) -> int:
    """``med_type`` or ``med_type_code``: the MedType number (0 when neither or bad)."""
    known = str(number) if str(number) in _VISIT_CODES else f"<{number}>"
    found = vocabulary.pick_code(
        v,
        dictionary="med_type",
        enum_field="med_type",
        enum_code=known if number else None,
        code_field="med_type_code",
        code_text=code,
        allowed=_VISIT_CODES,
    )
    return int(found) if found else 0


def insutype_number(number: int, code: str, field: str) -> int:
    """A person's ``insutype`` or ``insutype_code``: the proto InsuranceType number.

    Raises InvalidArgument on an unknown string or a disagreement; 0 when neither is sent
    (the person rules then name the missing field).
    """
    v = Violations()
    known = str(number) if str(number) in _INSUTYPE_CODES else f"<{number}>"
    found = vocabulary.pick_code(
        v,
        dictionary="insutype",
        enum_field=f"{field}insutype",
        enum_code=known if number else None,
        code_field=f"{field}insutype_code",
        code_text=code,
        allowed=_INSUTYPE_CODES,
    )
    v.raise_if_any()
    return int(found) if found else 0


def document_type_number(document: common_pb2.IdentityDocument, field: str) -> int:
    """The DocumentType number of ``type`` or of the national ``psn_cert_type``.

    Raises InvalidArgument naming the field for a type not accepted here, or naming both
    fields when they disagree. 0 (unset) when neither is sent.
    """
    code = document.psn_cert_type
    if not code:
        return int(document.type)
    if vocabulary.name_of("psn_cert_type", code) is None:
        raise InvalidArgument(f"{field}.psn_cert_type", f"{code[:4]!r} is not a psn_cert_type")
    kinds = _CERT_DOCUMENTS.get(code)
    if kinds is None:
        raise InvalidArgument(
            f"{field}.psn_cert_type",
            f"{code} {vocabulary.name_of('psn_cert_type', code)} is not accepted here: "
            "01 resident ID, 04/05 home-return permit or 17 residence permit",
        )
    if document.type:
        stated = common_pb2.DocumentType.Name(document.type).removeprefix("DOCUMENT_TYPE_")
        if stated not in {k.name for k in kinds}:
            message = f"{field}.type ({stated}) and {field}.psn_cert_type ({code}) disagree"
            also = FieldViolation(f"{field}.psn_cert_type", message)
            raise InvalidArgument(f"{field}.type", message, also)
        return int(document.type)
    if len(kinds) == 1:
        (kind,) = kinds
    else:  # 17: the permit's region prefix says which
        prefix = document.number[:6]
        matching = [k for k, p in RESIDENCE_PERMIT_PREFIXES.items() if p == prefix]
        if not matching:
            raise InvalidArgument(
                f"{field}.number", "a residence permit starts with 810000, 820000 or 830000"
            )
        kind = matching[0]
    return int(common_pb2.DocumentType.Value(f"DOCUMENT_TYPE_{kind.name}"))
