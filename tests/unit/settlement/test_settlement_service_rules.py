"""The pure rules around the engine: hospital envelopes, encounter states, uploads,
settlement records and their reversal, reconciliation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.bill import MAX_LINES_PER_BILL
from services.settlement.domain.codes import HospitalLevel, Insutype, PersonType, Sex, VisitType
from services.settlement.domain.encounter import (
    MAX_LINES_PER_UPLOAD,
    Coverage,
    Encounter,
    EncounterState,
    PersonSnapshot,
    account_balance_fen,
    require_dischargeable,
    require_open,
    require_settleable,
    settle_request,
    validate_upload,
)
from services.settlement.domain.engine import settle
from services.settlement.domain.inputs import (
    CHINA_TZ,
    OperatorType,
    check_msgid,
    read_begin_date,
    read_day,
    read_header,
)
from services.settlement.domain.reconcile import (
    DetailResult,
    Record,
    Totals,
    compare_records,
    totals_of,
)
from services.settlement.domain.records import reversal_of, settlement_of
from shared.errors import FailedPrecondition, InvalidArgument, Violations

from .builders import GX_CATALOGUE, NANNING, TREATMENT_DATE, line, policy_for

HOSPITAL = "H45010000001"
NOW = datetime(2026, 3, 15, 10, 30, tzinfo=CHINA_TZ)
ALLOWED = Coverage("LOCAL", True, "LOCAL", "", "", 0, True, "", "treatment in the insured pool")
REFUSED = Coverage("CROSS_PROVINCE", False, "", "", "", 0, False, "FILING_REQUIRED", "file first")


def person(**changes: object) -> PersonSnapshot:
    base = PersonSnapshot(
        psn_no=f"{NANNING}0000001",
        name="测试",
        insured_pool=NANNING,
        insutype=Insutype.EMPLOYEE,
        person_type=PersonType.IN_SERVICE,
        sex=Sex.FEMALE,
        birth_date=date(1980, 6, 1),
        maf_category=None,
        acct_opening_balance_fen=30_000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def encounter(**changes: object) -> Encounter:
    base = Encounter(
        mdtrt_id="M1",
        hospital_code=HOSPITAL,
        hospital_level=HospitalLevel.LEVEL_3,
        treatment_pool=NANNING,
        person=person(),
        visit_type=VisitType.ORDINARY_OUTPATIENT,
        chronic_disease=None,
        emergency=False,
        begin_date=TREATMENT_DATE,
        discharge_date=None,
        state=EncounterState.OPEN,
        setl_id=None,
        coverage=ALLOWED,
        line_count=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def violations(exc: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in exc.value.violations]


# --- the envelope ----------------------------------------------------------------------


def test_a_msgid_is_the_institution_code_a_real_time_and_a_sequence() -> None:
    errors = Violations()
    assert check_msgid(f"{HOSPITAL}202603151029590001", "m", errors, NOW) == HOSPITAL
    for bad in (
        f"{HOSPITAL}20260315102959001",  # 29 characters
        f"{HOSPITAL}202602301029590001",  # 30 February
        f"{HOSPITAL}202603171029590001",  # two days ahead
        "X45010000001202603151029590001",
    ):
        errors = Violations()
        assert check_msgid(bad, "header.msgid", errors, NOW) is None, bad
        assert [v.field for v in errors.items] == ["header.msgid"]


@pytest.mark.parametrize(
    ("stamp", "why"),
    [
        ("20260230102959", "30 February"),
        ("20250229102959", "29 February of a common year"),
        ("20260315242959", "hour 24"),
        ("20260315106059", "minute 60"),
        ("20260315102960", "second 60 (no leap seconds)"),
        ("20261315102959", "month 13"),
        ("20260015102959", "month 00"),
        ("20260300102959", "day 00"),
        ("00000315102959", "year 0"),
    ],
)
def test_a_msgid_time_that_is_no_real_time_is_refused_by_name(stamp: str, why: str) -> None:
    errors = Violations()
    assert check_msgid(f"{HOSPITAL}{stamp}0001", "header.msgid", errors, NOW) is None, why
    assert [(v.field, v.description) for v in errors.items] == [
        (
            "header.msgid",
            f"characters 13-26 {stamp!r} are not a real time yyyyMMddHHmmss",
        )
    ]


@pytest.mark.parametrize(
    "msgid",
    [
        f"{HOSPITAL}2026031510295a0001",  # a letter in the time
        f"{HOSPITAL}2026-03-15T1029590",  # separators
        f"{HOSPITAL}２０２６０３１５１０２９５９0001",  # full-width digits
        f"{HOSPITAL}20260315 029590001",  # a space
        f"{HOSPITAL}20260315102959000",  # short
        f"{HOSPITAL}2026031510295900011",  # long
        f"{HOSPITAL}20260315102959000\n",  # 30 characters with a trailing newline
        "",
    ],
)
def test_a_msgid_of_the_wrong_shape_is_refused_by_name(msgid: str) -> None:
    errors = Violations()
    assert check_msgid(msgid, "header.msgid", errors, NOW) is None
    assert [v.field for v in errors.items] == ["header.msgid"]
    assert "30 characters" in errors.items[0].description


def test_a_msgid_time_is_read_to_the_second_in_china_time() -> None:
    errors = Violations()
    # Midnight, a leap day and the last second of a day: each field is read in place.
    assert check_msgid(f"{HOSPITAL}202603150000000001", "m", errors, NOW) == HOSPITAL
    assert check_msgid(f"{HOSPITAL}202402291029590001", "m", errors, NOW) == HOSPITAL
    assert check_msgid(f"{HOSPITAL}202603152359590001", "m", errors, NOW) == HOSPITAL
    assert not errors.items


def test_a_header_names_every_bad_field() -> None:
    errors = Violations()
    header = read_header("short", "4501", "", 9, insured_pool_required=True, errors=errors, now=NOW)
    assert header is None
    assert [v.field for v in errors.items] == [
        "header.msgid",
        "header.mdtrtarea_admvs",
        "header.insuplc_admdvs",
        "header.opter_type",
    ]
    errors = Violations()
    ok = read_header(
        f"{HOSPITAL}202603151029590001",
        NANNING,
        "",
        1,
        insured_pool_required=False,
        errors=errors,
        now=NOW,
    )
    assert ok is not None and ok.insured_pool is None and ok.opter_type is OperatorType.CLERK


def test_dates_accept_the_national_time_and_refuse_the_future() -> None:
    errors = Violations()
    assert read_day("2026-03-15 08:00:00", "t", errors) == date(2026, 3, 15)
    assert read_day("15/03/2026", "t", errors) is None
    assert read_begin_date("2026-03-16", "begntime", errors, date(2026, 3, 15)) is None
    assert read_begin_date("2024-01-01", "begntime", errors, date(2026, 3, 15)) is None
    assert [v.field for v in errors.items] == ["t", "begntime", "begntime"]


# --- encounter states ----------------------------------------------------------------


def test_a_settled_or_cancelled_encounter_is_not_open() -> None:
    with pytest.raises(FailedPrecondition) as settled:
        require_open(encounter(state=EncounterState.SETTLED, setl_id="S1"))
    assert settled.value.reason == "ENCOUNTER_ALREADY_SETTLED"
    with pytest.raises(FailedPrecondition) as cancelled:
        require_open(encounter(state=EncounterState.CANCELLED))
    assert cancelled.value.reason == "ENCOUNTER_CANCELLED"


def test_settlement_needs_lines_and_coverage_with_the_filing_reason() -> None:
    with pytest.raises(FailedPrecondition) as empty:
        require_settleable(encounter(), 0)
    assert empty.value.reason == "NO_FEE_LINES"
    with pytest.raises(FailedPrecondition) as refused:
        require_settleable(encounter(coverage=REFUSED, line_count=1), 100)
    assert refused.value.reason == "FILING_REQUIRED"
    require_settleable(encounter(line_count=1), 100)


def test_only_an_undischarged_stay_is_discharged_not_before_admission() -> None:
    stay = encounter(visit_type=VisitType.INPATIENT)
    with pytest.raises(FailedPrecondition):
        require_dischargeable(encounter(), TREATMENT_DATE)
    with pytest.raises(InvalidArgument):
        require_dischargeable(stay, TREATMENT_DATE - timedelta(days=1))
    with pytest.raises(FailedPrecondition) as twice:
        require_dischargeable(replace(stay, discharge_date=TREATMENT_DATE), TREATMENT_DATE)
    assert twice.value.reason == "ALREADY_DISCHARGED"
    require_dischargeable(stay, TREATMENT_DATE)


# --- uploads ---------------------------------------------------------------------------


def test_an_upload_is_classified_and_its_errors_use_the_national_field_names() -> None:
    splits = validate_upload(
        encounter(), 0, [line(1, "A1", 1000), line(2, "C1", 500)], GX_CATALOGUE, TREATMENT_DATE
    )
    assert [s.inscp_fen for s in splits] == [1000, 0]
    bad = replace(line(1, "A1", 1000), quantity_e4=-1)
    with pytest.raises(InvalidArgument) as exc:
        validate_upload(encounter(), 0, [bad], GX_CATALOGUE, TREATMENT_DATE)
    assert "feedetail[0].cnt_e4" in violations(exc)
    with pytest.raises(InvalidArgument) as unknown:
        validate_upload(encounter(), 0, [line(1, "NOPE", 1000)], GX_CATALOGUE, TREATMENT_DATE)
    assert violations(unknown) == ["feedetail[0].med_list_codg"]
    early = line(1, "A1", 1000, fee_date=TREATMENT_DATE - timedelta(days=1))
    with pytest.raises(InvalidArgument) as dated:
        validate_upload(encounter(), 0, [early], GX_CATALOGUE, TREATMENT_DATE)
    assert violations(dated) == ["feedetail[0].fee_ocur_time"]


def test_an_upload_respects_the_encounter_limits_not_only_its_own() -> None:
    too_many = [line(n, "A1", 100) for n in range(1, MAX_LINES_PER_UPLOAD + 2)]
    with pytest.raises(InvalidArgument):
        validate_upload(encounter(), 0, too_many, GX_CATALOGUE, TREATMENT_DATE)
    full = encounter(line_count=MAX_LINES_PER_BILL)
    with pytest.raises(InvalidArgument) as exc:
        validate_upload(full, 100, [line(1, "A1", 100)], GX_CATALOGUE, TREATMENT_DATE)
    assert "at most 2000" in exc.value.violations[0].description
    with pytest.raises(InvalidArgument):
        validate_upload(
            encounter(line_count=1),
            1_999_999_999,
            [line(1, "A1", 100)],
            GX_CATALOGUE,
            TREATMENT_DATE,
        )


# --- the engine's inputs, records and reversal -------------------------------------------


def test_the_account_balance_is_the_opening_balance_less_this_years_use() -> None:
    assert account_balance_fen(person(), Accumulations(acct_paid_fen=10_000)) == 20_000
    assert account_balance_fen(person(), Accumulations(acct_paid_fen=40_000)) == 0
    assert account_balance_fen(person(insutype=Insutype.RESIDENT), Accumulations()) == 0
    assert person().age_years_on(date(2026, 5, 31)) == 45
    assert person().age_years_on(date(2026, 6, 1)) == 46


def test_a_reversal_negates_every_amount_of_its_settlement() -> None:
    lines = [line(1, "A1", 80_000), line(2, "B1", 30_000)]
    request = settle_request(encounter(line_count=2), lines, Accumulations(), acct_opted_in=True)
    result = settle(request, GX_CATALOGUE, policy_for(NANNING))
    record = settlement_of(
        result,
        setl_id="S1",
        mdtrt_id="M1",
        hospital_code=HOSPITAL,
        treatment_pool=NANNING,
        psn_no=person().psn_no,
        insured_pool=NANNING,
        relation="LOCAL",
        msgid=f"{HOSPITAL}202603151029590001",
        setl_time=NOW,
        setl_date=NOW.date(),
        clearing_period="202603",
        acc_year=2026,
        ratio_reduction_bp=0,
    )
    assert record.amounts.acct_pay_fen > 0
    reversal = reversal_of(
        record,
        setl_id="R1",
        msgid=f"{HOSPITAL}202604011029590001",
        setl_time=NOW + timedelta(days=17),
        setl_date=date(2026, 4, 1),
        clearing_period="202604",
        balc_fen=30_000,
    )
    assert reversal.reverses_setl_id == "S1" and reversal.clearing_period == "202604"
    for name, value in record.amounts.as_dict().items():
        assert getattr(reversal.amounts, name) == -value, name
    assert sum(d.fund_payamt_fen for d in record.details + reversal.details) == 0
    with pytest.raises(AssertionError):
        reversal_of(
            reversal,
            setl_id="R2",
            msgid="x",
            setl_time=NOW,
            setl_date=NOW.date(),
            clearing_period="202604",
            balc_fen=0,
        )


# --- reconciliation ----------------------------------------------------------------------


def test_reconciliation_counts_reversals_negative_and_lists_each_mismatch() -> None:
    s1 = Record("S1", "M1", "P", 1000, 600, 0, False)
    s2 = Record("S2", "M2", "P", 2000, 1200, 100, False)
    r1 = Record("R1", "M1", "P", -1000, -600, 0, True)
    assert totals_of([s1, s2, r1]) == Totals(2000, 1200, 100, 1)
    theirs = [s1, replace(s2, acct_pay_fen=101), Record("X", "M9", "P", 5, 0, 0, False)]
    outcome = compare_records([s1, s2, r1], theirs)
    assert outcome.matched_count == 1 and not outcome.truncated
    assert [(m.setl_id, m.result) for m in outcome.mismatches] == [
        ("R1", DetailResult.MISSING_THEIRS),
        ("S2", DetailResult.AMOUNT_DIFFERS),
        ("X", DetailResult.MISSING_OURS),
    ]
    assert Totals(1, 2, 3, 4).differing_fields(Totals(1, 2, 0, 4)) == ["acct_pay_fen"]
