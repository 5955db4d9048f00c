"""The national strings beside the filing service's enums: psn_cert_type, insutype, med_type."""

from __future__ import annotations

from datetime import date

import pytest

from services.filing.national_codes import (
    document_type_number,
    insutype_number,
    med_type_number,
)
from shared.errors import InvalidArgument, Violations
from shared.identity import DocumentType, make_residence_permit, make_resident_id
from shared.pb.crossclear.common.v1 import common_pb2

BIRTH = date(1980, 3, 4)


def test_psn_cert_type_names_the_document_type() -> None:
    resident = make_resident_id("450100", BIRTH, 7)
    doc = common_pb2.IdentityDocument(psn_cert_type="01", number=resident)
    assert document_type_number(doc, "document") == common_pb2.DOCUMENT_TYPE_RESIDENT_ID
    for kind, expected in [
        (DocumentType.HK_RESIDENCE_PERMIT, common_pb2.DOCUMENT_TYPE_HK_RESIDENCE_PERMIT),
        (DocumentType.MO_RESIDENCE_PERMIT, common_pb2.DOCUMENT_TYPE_MO_RESIDENCE_PERMIT),
        (DocumentType.TW_RESIDENCE_PERMIT, common_pb2.DOCUMENT_TYPE_TW_RESIDENCE_PERMIT),
    ]:
        permit = common_pb2.IdentityDocument(
            psn_cert_type="17", number=make_residence_permit(kind, BIRTH, 5)
        )
        assert document_type_number(permit, "document") == expected
    home_return = common_pb2.IdentityDocument(psn_cert_type="04", number="H12345678")
    assert (
        document_type_number(home_return, "d") == common_pb2.DOCUMENT_TYPE_HK_MO_HOME_RETURN_PERMIT
    )
    # Neither: the enum as it is (unset stays unset, for the rules to name).
    assert document_type_number(common_pb2.IdentityDocument(number=resident), "d") == 0


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        (
            common_pb2.IdentityDocument(
                type=common_pb2.DOCUMENT_TYPE_E_VOUCHER, psn_cert_type="01", number="x"
            ),
            ["d.type", "d.psn_cert_type"],
        ),
        (common_pb2.IdentityDocument(psn_cert_type="08", number="E1234"), ["d.psn_cert_type"]),
        (common_pb2.IdentityDocument(psn_cert_type="1", number="x"), ["d.psn_cert_type"]),
        (common_pb2.IdentityDocument(psn_cert_type="17", number="450100x"), ["d.number"]),
    ],
)
def test_bad_or_conflicting_psn_cert_type(
    document: common_pb2.IdentityDocument, fields: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        document_type_number(document, "d")
    assert [v.field for v in raised.value.violations] == fields


def test_insutype_and_med_type_strings() -> None:
    assert insutype_number(0, "390", "person.") == 390
    assert insutype_number(310, "", "person.") == 310
    assert insutype_number(0, "", "person.") == 0
    with pytest.raises(InvalidArgument) as raised:
        insutype_number(310, "390", "person.")
    assert [v.field for v in raised.value.violations] == ["person.insutype", "person.insutype_code"]
    v = Violations()
    assert med_type_number(v, 0, "14") == 14
    assert med_type_number(v, 21, "21") == 21
    assert v.items == []
    assert med_type_number(v, 0, "41") == 0  # a pharmacy purchase: not a visit type here
    assert [i.field for i in v.items] == ["med_type_code"]
