from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from services.clearing.domain.events import (
    EventKind,
    FundType,
    Insutype,
    NationalFundCode,
    SettlementEvent,
)
from services.clearing.domain.ledger import ledger_entries
from services.clearing.domain.pools import ClearingLevel, clearing_level
from shared.errors import InvalidArgument

from .clearing_factories import (
    FEB,
    GUANGZHOU,
    JAN,
    LIUZHOU,
    NANNING,
    SHENZHEN,
    make_event,
)

ALL_FUNDS = {
    FundType.HIFP: 50_000,
    FundType.HIFOB: 0,
    FundType.HIFMI: 12_000,
    FundType.CVLSERV: 0,
    FundType.MAF: 3_000,
    FundType.ACCT: 1_500,
}


def test_one_entry_per_nonzero_fund_cash_not_cleared() -> None:
    event = make_event("S1", funds=ALL_FUNDS, cash_fen=9_900)
    entries = ledger_entries(event, closed_periods=())
    assert [(e.fund, e.amount_fen) for e in entries] == [
        (FundType.HIFP, 50_000),
        (FundType.HIFMI, 12_000),
        (FundType.MAF, 3_000),
        (FundType.ACCT, 1_500),
    ]
    assert sum(e.amount_fen for e in entries) == event.medfee_sumamt_fen - 9_900
    assert {(e.period, e.late, e.level) for e in entries} == {(JAN, False, ClearingLevel.NATIONAL)}


def test_reversal_entries_are_negative() -> None:
    event = make_event("R1", kind=EventKind.REVERSED, funds={FundType.HIFP: 700})
    (entry,) = ledger_entries(event, ())
    assert (entry.amount_fen, entry.kind, entry.reversed_setl_id) == (
        -700,
        EventKind.REVERSED,
        "orig-R1",
    )


def test_event_after_cutoff_lands_in_next_period_flagged_late() -> None:
    (entry,) = ledger_entries(make_event("S1"), closed_periods={JAN})
    assert (entry.period, entry.event_period, entry.late) == (FEB, JAN, True)


def test_local_settlement_is_never_cleared() -> None:
    assert ledger_entries(make_event("S1", insured=NANNING, treatment=NANNING), ()) == ()


@pytest.mark.parametrize(
    ("insured", "treatment", "level"),
    [
        pytest.param(NANNING, NANNING, None, id="same-pool"),
        pytest.param(NANNING, LIUZHOU, ClearingLevel.PROVINCIAL, id="same-province"),
        pytest.param(GUANGZHOU, SHENZHEN, ClearingLevel.PROVINCIAL, id="same-province-gd"),
        pytest.param(NANNING, GUANGZHOU, ClearingLevel.NATIONAL, id="cross-province"),
    ],
)
def test_clearing_level(insured: str, treatment: str, level: ClearingLevel | None) -> None:
    assert clearing_level(insured, treatment) is level


def _valid_kwargs() -> dict[str, Any]:
    event = make_event("S1", funds={FundType.HIFP: 800}, cash_fen=200)
    return {f: getattr(event, f) for f in event.__dataclass_fields__}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"insured_pool": "45010"}, "insured_pool", id="short-pool"),
        pytest.param({"treatment_pool": "04a100"}, "treatment_pool", id="non-digit-pool"),
        pytest.param({"hospital_code": "H4401"}, "hospital_code", id="short-hospital"),
        pytest.param({"setl_id": ""}, "setl_id", id="empty-setl-id"),
        pytest.param(
            {"reversed_setl_id": "S0"}, "reversed_setl_id", id="settlement-names-reversal"
        ),
        pytest.param(
            {"hifp_fen": -800, "medfee_sumamt_fen": -600}, "hifp_fen", id="negative-settlement"
        ),
        pytest.param({"medfee_sumamt_fen": 999}, "medfee_sumamt_fen", id="parts-do-not-sum"),
        pytest.param({"settle_time": datetime(2025, 1, 5, 9)}, "settle_time", id="naive-time"),
    ],
)
def test_malformed_event_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        SettlementEvent(**{**_valid_kwargs(), **change})
    assert field in {v.field for v in caught.value.violations}


def test_reversal_needs_the_reversed_settlement_id() -> None:
    event = make_event("R1", kind=EventKind.REVERSED)
    with pytest.raises(InvalidArgument) as caught:
        replace(event, reversed_setl_id=None)
    assert caught.value.violations[0].field == "reversed_setl_id"


@pytest.mark.parametrize(
    ("fund", "insutype", "code"),
    [
        pytest.param(
            FundType.HIFP, Insutype.EMPLOYEE, NationalFundCode.EMPLOYEE_BASIC_POOL, id="hifp-310"
        ),
        pytest.param(
            FundType.HIFP, Insutype.RESIDENT, NationalFundCode.RESIDENT_BASIC, id="hifp-390"
        ),
        pytest.param(
            FundType.HIFMI,
            Insutype.RESIDENT,
            NationalFundCode.RESIDENT_CRITICAL_ILLNESS,
            id="hifmi",
        ),
        pytest.param(
            FundType.ACCT, Insutype.EMPLOYEE, NationalFundCode.EMPLOYEE_PERSONAL_ACCOUNT, id="acct"
        ),
        pytest.param(
            FundType.MAF, Insutype.RESIDENT, NationalFundCode.MEDICAL_ASSISTANCE, id="maf"
        ),
    ],
)
def test_national_fund_codes(fund: FundType, insutype: Insutype, code: NationalFundCode) -> None:
    assert fund.national_code(insutype) is code
