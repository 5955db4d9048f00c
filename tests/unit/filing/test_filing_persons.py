"""Person records: every bad field at once, facts derived from an 18-character document."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.filing.domain.dates import parse_iso_date, window_fits
from services.filing.domain.persons import (
    AssistanceCategory,
    Insutype,
    PersonDraft,
    PersonType,
    insured_pool_of,
    validate_person,
)
from shared.errors import InvalidArgument, Violations
from shared.identity import (
    DocumentType,
    make_home_return_permit,
    make_residence_permit,
    make_resident_id,
)
from shared.vocabulary import Sex

TODAY = date(2026, 11, 22)
NANNING, ZHUHAI = "450100", "440400"
RESIDENT_ID = make_resident_id(NANNING, date(1961, 3, 9), 123)  # odd sequence: male
DRAFT = PersonDraft(
    psn_no=f"{NANNING}0000012345",
    name=" 李 明 ",
    phone="",
    documents=((DocumentType.RESIDENT_ID, RESIDENT_ID),),
    insured_pool=NANNING,
    insutype=Insutype.EMPLOYEE,
    person_type=PersonType.RETIRED,
    assistance_category=AssistanceCategory.NONE,
    sex=None,
    birth_date="",
    acct_balance_fen=350_000,
)


def fields_of(draft: PersonDraft) -> list[str]:
    with pytest.raises(InvalidArgument) as info:
        validate_person(draft, TODAY)
    return [v.field for v in info.value.violations]


def test_facts_come_from_the_resident_id() -> None:
    person = validate_person(DRAFT, TODAY)
    assert (person.sex, person.birth_date) == (Sex.MALE, date(1961, 3, 9))
    assert person.name == "李 明" and person.phone is None
    assert person.insured_pool == NANNING and person.revision == 0


def test_values_sent_must_agree_with_the_id() -> None:
    draft = replace(DRAFT, sex=Sex.FEMALE, birth_date="1961-03-10")
    assert fields_of(draft) == ["person.sex", "person.birth_date"]
    assert validate_person(replace(DRAFT, sex=Sex.MALE, birth_date="1961-03-09"), TODAY)


def test_without_an_id_sex_and_birth_date_are_required() -> None:
    permit = make_home_return_permit("H", 12345678)
    draft = replace(DRAFT, documents=((DocumentType.HK_MO_HOME_RETURN_PERMIT, permit),))
    assert fields_of(draft) == ["person.sex", "person.birth_date"]
    person = validate_person(replace(draft, sex=Sex.FEMALE, birth_date="1990-05-01"), TODAY)
    assert person.birth_date == date(1990, 5, 1)
    assert fields_of(replace(draft, sex=Sex.FEMALE, birth_date="2030-01-01")) == [
        "person.birth_date"
    ]


def test_macau_residence_permit_in_a_gba_pool() -> None:
    permit = make_residence_permit(DocumentType.MO_RESIDENCE_PERMIT, date(1985, 7, 1), 2)
    draft = replace(
        DRAFT,
        psn_no=f"{ZHUHAI}M0001",
        insured_pool=ZHUHAI,
        documents=((DocumentType.MO_RESIDENCE_PERMIT, permit),),
    )
    person = validate_person(draft, TODAY)
    assert (person.sex, person.birth_date) == (Sex.FEMALE, date(1985, 7, 1))


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"psn_no": "4501"}, ["person.psn_no"], id="short-number"),
        pytest.param({"psn_no": "440100000001"}, ["person.psn_no"], id="other-pool"),
        pytest.param({"psn_no": "450100abcd"}, ["person.psn_no"], id="lower-case"),
        pytest.param({"insured_pool": "459999"}, ["person.insured_pool"], id="unknown-pool"),
        pytest.param({"name": "  "}, ["person.name"], id="blank-name"),
        pytest.param({"name": "x" * 51}, ["person.name"], id="long-name"),
        pytest.param({"phone": "call me"}, ["person.phone"], id="phone"),
        pytest.param({"documents": ()}, ["person.documents"], id="no-documents"),
        pytest.param(
            {"documents": ((None, "x"), (DocumentType.RESIDENT_ID, RESIDENT_ID))},
            ["person.documents[0].type"],
            id="unknown-type",
        ),
        pytest.param(
            {
                "documents": (
                    (DocumentType.RESIDENT_ID, RESIDENT_ID),
                    (DocumentType.RESIDENT_ID, RESIDENT_ID),
                )
            },
            ["person.documents[1].type"],
            id="twice-one-type",
        ),
        pytest.param(
            {"documents": ((DocumentType.RESIDENT_ID, RESIDENT_ID[:-1] + "0"),)}
            if RESIDENT_ID[-1] != "0"
            else {"documents": ((DocumentType.RESIDENT_ID, RESIDENT_ID[:-1] + "1"),)},
            ["person.documents[0].number"],
            id="check-digit",
        ),
        pytest.param({"insutype": None}, ["person.insutype"], id="insutype"),
        pytest.param({"person_type": None}, ["person.person_type"], id="person-type"),
        pytest.param(
            {"assistance_category": None}, ["person.assistance_category"], id="assistance"
        ),
        pytest.param({"acct_balance_fen": -1}, ["person.acct_balance_fen"], id="negative"),
        pytest.param(
            {"insutype": Insutype.RESIDENT},
            ["person.acct_balance_fen"],
            id="resident-account",
        ),
        pytest.param({"birth_date": "1961-3-9"}, ["person.birth_date"], id="date-format"),
    ],
)
def test_bad_fields_are_named(changes: dict[str, object], fields: list[str]) -> None:
    assert fields_of(replace(DRAFT, **changes)) == fields  # type: ignore[arg-type]


def test_every_bad_field_at_once() -> None:
    draft = replace(DRAFT, name="", insutype=None, acct_balance_fen=-5, psn_no="x")
    assert fields_of(draft) == [
        "person.psn_no",
        "person.name",
        "person.insutype",
        "person.acct_balance_fen",
    ]


def test_insured_pool_of_a_person_number() -> None:
    assert insured_pool_of("4501000000AB12") == NANNING
    assert insured_pool_of("450100") is None
    assert insured_pool_of("4501000" + "1" * 30) is None


@pytest.mark.parametrize(
    ("text", "expected", "violation"),
    [
        ("2026-11-22", date(2026, 11, 22), None),
        ("", None, None),
        ("2026-11-22 23:59:59", date(2026, 11, 22), None),
        ("20261122", None, "not a time in the form"),
        ("2026-02-30", None, "not a real calendar date"),
    ],
)
def test_parse_iso_date(text: str, expected: date | None, violation: str | None) -> None:
    v = Violations()
    assert parse_iso_date(v, "start_date", text, required=False) == expected
    described = [(item.field, item.description[: len(violation or "")]) for item in v.items]
    assert described == ([("start_date", violation)] if violation else [])


def test_window_fits_the_calendar() -> None:
    assert window_fits(date(2026, 11, 22), 12)
    assert window_fits(date(9998, 12, 31), 12)
    assert not window_fits(date(9999, 1, 1), 12)
