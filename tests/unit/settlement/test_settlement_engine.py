"""Table-driven settlement cases; every expected fen is worked out by hand in the comments.

Policies are the shipped seed (GX, GD_GBA); the catalogue is the hand-made test one
(class-B share 10 % in province 45, 5 % in 44) so that each line's split is obvious.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from services.settlement.domain.accumulations import (
    Accumulations,
    apply_delta,
    exceeded_caps,
    reverse_delta,
)
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.catalogue import Catalogue, SelfPayReason
from services.settlement.domain.codes import (
    AssistanceCategory,
    ChronicDisease,
    FundType,
    HospitalLevel,
    Insutype,
    PersonType,
    VisitType,
)
from services.settlement.domain.engine import SettlementResult, settle

from .builders import GD_CATALOGUE, GUANGZHOU, GX_CATALOGUE, NANNING, line, policy_for, request

E, R = Insutype.EMPLOYEE, Insutype.RESIDENT
OUT, CHR, IP = VisitType.ORDINARY_OUTPATIENT, VisitType.CHRONIC_OUTPATIENT, VisitType.INPATIENT
MT01, MT02 = ChronicDisease.HYPERTENSION, ChronicDisease.DIABETES

# Standard bills (treated in Guangxi, class-B share 10 %):
# outpatient: A1 300.00 + B1 100.00 (pre 10.00) + C1 20.00 → total 420.00, in-scope 390.00
OUT_BILL = [line(1, "A1", 30_000), line(2, "B1", 10_000), line(3, "C1", 2_000)]
# chronic (MT02): DM 5,000.00 (class B, pre 500.00) + A1 1,000.00 → total 6,000.00,
# in-scope 5,500.00
CHR_BILL = [line(1, "DM", 500_000), line(2, "A1", 100_000)]
# inpatient: A1 10,000.00 + B1 2,000.00 (pre 200.00) + C1 500.00 → total 12,500.00,
# in-scope 11,800.00
IP_BILL = [line(1, "A1", 1_000_000), line(2, "B1", 200_000), line(3, "C1", 50_000)]
BILLS = {OUT: OUT_BILL, CHR: CHR_BILL, IP: IP_BILL}
SPLITS = {  # total, fully self-paid, advance self-pay, in-scope
    OUT: (42_000, 2_000, 1_000, 39_000),
    CHR: (600_000, 0, 50_000, 550_000),
    IP: (1_250_000, 50_000, 20_000, 1_180_000),
}

# relation label → (insured pool, treatment pool); the hospital is in Nanning throughout, so
# the catalogue is Guangxi's; GD_GBA's ratios and deductibles equal GX's, its caps differ.
RELATIONS = {
    "local": (NANNING, NANNING),
    "in-province": ("450500", NANNING),  # Beihai → Nanning
    "cross-province": (GUANGZHOU, NANNING),
}

# (insutype, visit, reduction bp, relation, deductible, ratio bp, hifp) — hand-computed:
MATRIX = [
    # employee ordinary outpatient: deductible 100.00 of 390.00 → 290.00 × ratio, cap 2,000.00
    (E, OUT, 0, "local", 10_000, 6000, 17_400),
    (E, OUT, 1000, "in-province", 10_000, 5000, 14_500),
    (E, OUT, 2000, "cross-province", 10_000, 4000, 11_600),
    # employee chronic: no deductible, 5,500.00 × ratio
    (E, CHR, 0, "local", 0, 8000, 440_000),
    (E, CHR, 1000, "in-province", 0, 7000, 385_000),
    (E, CHR, 2000, "cross-province", 0, 6000, 330_000),
    # employee inpatient level 3: 11,800.00 − 800.00 = 11,000.00 × ratio
    (E, IP, 0, "local", 80_000, 8500, 935_000),
    (E, IP, 1000, "in-province", 80_000, 7500, 825_000),
    (E, IP, 2000, "cross-province", 80_000, 6500, 715_000),
    # resident ordinary outpatient: 390.00 − 50.00 = 340.00 × ratio, cap 800.00
    (R, OUT, 0, "cross-province", 5_000, 5000, 17_000),
    (R, OUT, 1000, "cross-province", 5_000, 4000, 13_600),
    (R, OUT, 2000, "in-province", 5_000, 3000, 10_200),
    # resident chronic: 5,500.00 × ratio; self-pay far below the hifmi threshold
    (R, CHR, 0, "cross-province", 0, 7000, 385_000),
    (R, CHR, 1000, "cross-province", 0, 6000, 330_000),
    (R, CHR, 2000, "in-province", 0, 5000, 275_000),
    # resident inpatient level 3: 11,800.00 − 1,000.00 = 10,800.00 × ratio
    (R, IP, 0, "cross-province", 100_000, 6000, 648_000),
    (R, IP, 1000, "cross-province", 100_000, 5000, 540_000),
    (R, IP, 2000, "in-province", 100_000, 4000, 432_000),
]


def _matrix_id(case: tuple[Any, ...]) -> str:
    insutype, visit, reduction, relation = case[:4]
    who = "employee" if insutype is E else "resident"
    filing = {0: "long-term", 1000: "referral-emergency", 2000: "other-temporary"}[reduction]
    return f"{who}-{visit.name.lower()}-{filing}-{relation}"


@pytest.mark.parametrize("case", MATRIX, ids=[_matrix_id(c) for c in MATRIX])
def test_matrix(case: tuple[Any, ...]) -> None:
    insutype, visit, reduction, relation, deductible, ratio_bp, hifp = case
    insured, treatment = RELATIONS[relation]
    req = request(
        BILLS[visit],
        insutype=insutype,
        visit=visit,
        reduction_bp=reduction,
        disease=MT02 if visit is CHR else None,
        insured=insured,
        treatment=treatment,
    )
    result = settle(req, GX_CATALOGUE, policy_for(insured))
    total, fulamt, pre, inscp = SPLITS[visit]
    assert (
        result.medfee_sumamt_fen,
        result.fulamt_ownpay_amt_fen,
        result.preselfpay_amt_fen,
        result.inscp_scp_amt_fen,
    ) == (total, fulamt, pre, inscp)
    assert result.act_pay_dedc_fen == deductible
    assert result.pool_prop_selfpay_bp == ratio_bp
    assert result.hifp_pay_fen == hifp
    assert result.fund_pay_sumamt_fen == hifp
    assert result.psn_cash_pay_fen == total - hifp
    assert result.hifob_pay_fen == result.hifmi_pay_fen == result.maf_pay_fen == 0
    _assert_delta_matches(result, visit)


def _assert_delta_matches(result: SettlementResult, visit: VisitType) -> None:
    d = result.delta
    if visit is OUT:
        assert (d.outpatient_deductible_used_fen, d.hifp_outpatient_paid_fen) == (
            result.act_pay_dedc_fen,
            result.hifp_pay_fen,
        )
        assert d.hifp_basic_paid_fen == 0
    else:
        assert d.hifp_basic_paid_fen == result.hifp_pay_fen
        assert d.outpatient_deductible_used_fen == d.hifp_outpatient_paid_fen == 0
    if visit is CHR:
        assert dict(d.chronic_hifp_paid_fen) == {MT02: result.hifp_pay_fen}


def test_proc_info_reads_like_the_computation() -> None:
    # in-scope 12,000.00, level 3 deductible 800.00, 85 %, 10,000.00 of 120,000.00 used
    acc = Accumulations(hifp_basic_paid_fen=1_000_000)
    result = settle(request([line(1, "A1", 1_200_000)], acc=acc), GX_CATALOGUE, policy_for(NANNING))
    hifp_row = result.details[0]
    assert hifp_row.fund_pay_type is FundType.HIFP
    assert hifp_row.fund_payamt_fen == 952_000
    assert hifp_row.crt_payb_lmt_amt_fen == 11_000_000
    assert hifp_row.setl_proc_info == (
        "in-scope 12,000.00 − deductible 800.00 = 11,200.00 × 85.00 % = 9,520.00;"
        " annual cap left 110,000.00"
    )


@dataclass(frozen=True)
class Case:
    id: str
    lines: list[FeeLine]
    expected: dict[str, int]
    kwargs: dict[str, Any] = field(default_factory=dict)
    catalogue: Catalogue = GX_CATALOGUE
    expected_delta: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        # Guangxi insured treated in Guangzhou: Guangdong catalogue, class-B share 5 %.
        # in-scope 10,000.00 + 1,900.00 = 11,900.00; − 800.00 = 11,100.00 × 85 % = 9,435.00
        "cross-province-gd-catalogue-class-b-5pct",
        IP_BILL,
        {"preselfpay_amt_fen": 10_000, "inscp_scp_amt_fen": 1_190_000, "hifp_pay_fen": 943_500},
        {"treatment": GUANGZHOU},
        catalogue=GD_CATALOGUE,
    ),
    Case(
        # 120,000.00 cap with 115,000.00 used: 5,000.00 left. In-scope 20,000.00 − 800.00 =
        # 19,200.00 × 85 % = 16,320.00 → capped 5,000.00. The cap pays for 5,000.00 / 85 % =
        # 5,882.35 of in-scope; 19,200.00 − 5,882.35 = 13,317.65 above it × 90 % = 11,985.89.
        "employee-basic-cap-crossed-mid-bill-hifob",
        [line(1, "A1", 2_000_000)],
        {
            "hifp_pay_fen": 500_000,
            "hifob_pay_fen": 1_198_589,
            "fund_pay_sumamt_fen": 1_698_589,
            "psn_cash_pay_fen": 301_411,
        },
        {"acc": Accumulations(hifp_basic_paid_fen=11_500_000)},
        expected_delta={"hifp_basic_paid_fen": 500_000, "hifob_paid_fen": 1_198_589},
    ),
    Case(
        # basic cap exhausted, hifob 399,000.00 of 400,000.00 used: level 1, in-scope 10,000.00
        # − 200.00 = 9,800.00 all above the cap × 90 % = 8,820.00 → capped 1,000.00
        "employee-hifob-annual-cap",
        [line(1, "A1", 1_000_000)],
        {"hifp_pay_fen": 0, "hifob_pay_fen": 100_000, "psn_cash_pay_fen": 900_000},
        {
            "level": HospitalLevel.LEVEL_1,
            "acc": Accumulations(hifp_basic_paid_fen=12_000_000, hifob_paid_fen=39_900_000),
        },
    ),
    Case(
        # GD_GBA employee cap is 150,000.00: 145,000.00 used → 5,000.00 left, same bill as above
        "employee-gba-cap-150k",
        [line(1, "A1", 2_000_000)],
        {"hifp_pay_fen": 500_000, "hifob_pay_fen": 1_198_589},
        {"insured": GUANGZHOU, "acc": Accumulations(hifp_basic_paid_fen=14_500_000)},
    ),
    Case(
        # deductible 100.00 a year, 60.00 used: 40.00 left; 200.00 − 40.00 = 160.00 × 60 % = 96.00
        "employee-outpatient-deductible-partly-used",
        [line(1, "A1", 20_000)],
        {"act_pay_dedc_fen": 4_000, "hifp_pay_fen": 9_600, "psn_cash_pay_fen": 10_400},
        {"visit": OUT, "acc": Accumulations(outpatient_deductible_used_fen=6_000)},
        expected_delta={"outpatient_deductible_used_fen": 4_000, "hifp_outpatient_paid_fen": 9_600},
    ),
    Case(
        # deductible used up: 200.00 × 60 % = 120.00
        "employee-outpatient-deductible-used-up",
        [line(1, "A1", 20_000)],
        {"act_pay_dedc_fen": 0, "hifp_pay_fen": 12_000},
        {"visit": OUT, "acc": Accumulations(outpatient_deductible_used_fen=10_000)},
    ),
    Case(
        # outpatient cap 2,000.00, 1,950.00 used: 120.00 computed → 50.00 paid; no second tier
        "employee-outpatient-cap-crossed",
        [line(1, "A1", 20_000)],
        {"hifp_pay_fen": 5_000, "hifob_pay_fen": 0, "psn_cash_pay_fen": 15_000},
        {
            "visit": OUT,
            "acc": Accumulations(
                outpatient_deductible_used_fen=10_000, hifp_outpatient_paid_fen=195_000
            ),
        },
    ),
    Case(
        # class B 123.45: share 10 % = 12.345 → 12.35 (half up), in scope 111.10; outpatient
        # deductible 100.00 → 11.10 × 60 % = 6.66
        "class-b-share-rounds-half-up",
        [line(1, "B1", 12_345)],
        {"preselfpay_amt_fen": 1_235, "inscp_scp_amt_fen": 11_110, "hifp_pay_fen": 666},
        {"visit": OUT},
    ),
    Case(
        # LIM limit 500.00: 2 × 650.00 = 1,300.00 → 300.00 over; 0.5 × 650.00 = 325.00 → 75.00
        # over; stent (class B, limit 700.00) at 800.00: 100.00 over, 10 % of 700.00 = 70.00 pre
        "over-price-limit",
        [
            line(1, "LIM", 65_000, 20_000),
            line(2, "LIM", 65_000, 5_000),
            line(3, "BLIM", 80_000),
        ],
        {
            "medfee_sumamt_fen": 242_500,
            "overlmt_selfpay_fen": 47_500,
            "preselfpay_amt_fen": 7_000,
            "inscp_scp_amt_fen": 188_000,
            # 1,880.00 − 800.00 = 1,080.00 × 85 % = 918.00
            "hifp_pay_fen": 91_800,
        },
    ),
    Case(
        # class C only: all self-paid, nothing for any fund
        "class-c-only",
        [line(1, "C1", 50_000)],
        {"fulamt_ownpay_amt_fen": 50_000, "inscp_scp_amt_fen": 0, "fund_pay_sumamt_fen": 0},
    ),
    Case(
        # inpatient-only item in outpatient care: fully self-paid (restriction)
        "restriction-inpatient-only-in-outpatient",
        [line(1, "IP", 10_000), line(2, "A1", 20_000)],
        {"fulamt_ownpay_amt_fen": 10_000, "inscp_scp_amt_fen": 20_000, "hifp_pay_fen": 6_000},
        {"visit": OUT},
    ),
    Case(
        # DM is paid in outpatient care only for diabetes: under hypertension it is self-paid.
        # A1 1,000.00 × 80 % = 800.00
        "chronic-item-for-another-disease",
        [line(1, "DM", 50_000), line(2, "A1", 100_000)],
        {"fulamt_ownpay_amt_fen": 50_000, "hifp_pay_fen": 80_000},
        {"visit": CHR, "disease": MT01},
    ),
    Case(
        # diabetes capped at 20,000.00 with 19,000.00 used: 4,400.00 computed → 1,000.00; the
        # per-disease cap binds, not the basic one, so no large-amount subsidy
        "chronic-disease-cap-reached",
        CHR_BILL,
        {"hifp_pay_fen": 100_000, "hifob_pay_fen": 0, "psn_cash_pay_fen": 500_000},
        {
            "visit": CHR,
            "disease": MT02,
            "acc": Accumulations(
                hifp_basic_paid_fen=1_900_000, chronic_hifp_paid_fen={MT02: 1_900_000}
            ),
        },
        expected_delta={"chronic_hifp_paid_fen": {MT02: 100_000}},
    ),
    Case(
        # same person, hypertension still open: 5,500.00 × 80 % = 4,400.00 in full
        "chronic-other-disease-still-open",
        [line(1, "A1", 550_000)],
        {"hifp_pay_fen": 440_000},
        {
            "visit": CHR,
            "disease": MT01,
            "acc": Accumulations(
                hifp_basic_paid_fen=1_900_000, chronic_hifp_paid_fen={MT02: 1_900_000}
            ),
        },
        expected_delta={"chronic_hifp_paid_fen": {MT01: 440_000}},
    ),
    Case(
        # retiree, level 1: 90 % + 5 = 95 % (ceiling) − 10 referral = 85 %;
        # 10,000.00 − 200.00 = 9,800.00 × 85 % = 8,330.00
        "employee-retiree-level-1-referral",
        [line(1, "A1", 1_000_000)],
        {"pool_prop_selfpay_bp": 8500, "hifp_pay_fen": 833_000},
        {
            "person_type": PersonType.RETIRED,
            "level": HospitalLevel.LEVEL_1,
            "reduction_bp": 1000,
        },
    ),
    Case(
        # retiree, level 3: 85 % + 5 = 90 %; 11,000.00 × 90 % = 9,900.00
        "employee-retiree-level-3",
        [line(1, "A1", 1_180_000)],
        {"pool_prop_selfpay_bp": 9000, "hifp_pay_fen": 990_000},
        {"person_type": PersonType.RETIRED},
    ),
    Case(
        # reduction larger than the ratio: floor at 0, deductible still applied
        "reduction-floors-at-zero",
        [line(1, "A1", 100_000)],
        {"pool_prop_selfpay_bp": 0, "hifp_pay_fen": 0, "act_pay_dedc_fen": 80_000},
        {"reduction_bp": 9000},
    ),
]

# Resident inpatient level 3, in-scope 10,000.00: deductible 1,000.00, 9,000.00 × 60 % =
# 5,400.00; self-pay 4,600.00 (below the hifmi threshold) left for assistance.
RESIDENT_IP = {"insutype": R}
MAF_BILL = [line(1, "A1", 1_000_000)]
CASES += [
    Case(
        "maf-destitute-100pct",
        MAF_BILL,
        {"hifp_pay_fen": 540_000, "maf_pay_fen": 460_000, "psn_part_amt_fen": 0},
        {**RESIDENT_IP, "maf": AssistanceCategory.DESTITUTE},
    ),
    Case(
        # assistance pays in-scope self-pay only: the class-C 500.00 stays with the patient
        "maf-destitute-not-for-class-c",
        [*MAF_BILL, line(2, "C1", 50_000)],
        {"maf_pay_fen": 460_000, "psn_cash_pay_fen": 50_000},
        {**RESIDENT_IP, "maf": AssistanceCategory.DESTITUTE},
    ),
    Case(
        "maf-dibao-gx-70pct",
        MAF_BILL,
        {"maf_pay_fen": 322_000, "psn_cash_pay_fen": 138_000},
        {**RESIDENT_IP, "maf": AssistanceCategory.MINIMUM_LIVING},
    ),
    Case(
        "maf-dibao-gd-80pct-cross-province",
        MAF_BILL,
        {"maf_pay_fen": 368_000, "psn_cash_pay_fen": 92_000},
        {**RESIDENT_IP, "maf": AssistanceCategory.MINIMUM_LIVING, "insured": GUANGZHOU},
    ),
    Case(
        "maf-low-income-marginal-60pct",
        MAF_BILL,
        {"maf_pay_fen": 276_000, "psn_cash_pay_fen": 184_000},
        {**RESIDENT_IP, "maf": AssistanceCategory.LOW_INCOME_MARGINAL},
    ),
    Case(
        "maf-poverty-return-monitored-60pct",
        MAF_BILL,
        {"maf_pay_fen": 276_000, "psn_cash_pay_fen": 184_000},
        {**RESIDENT_IP, "maf": AssistanceCategory.POVERTY_RETURN_MONITORED},
    ),
    Case(
        # 59,000.00 of 60,000.00 used: 4,600.00 computed → 1,000.00
        "maf-annual-cap-crossed",
        MAF_BILL,
        {"maf_pay_fen": 100_000, "psn_cash_pay_fen": 360_000},
        {
            **RESIDENT_IP,
            "maf": AssistanceCategory.DESTITUTE,
            "acc": Accumulations(maf_paid_fen=5_900_000),
        },
    ),
    Case(
        # employee, with hifp first: 11,000.00 × 85 % = 9,350.00; left 2,450.00 × 70 % = 1,715.00
        "maf-dibao-employee-after-hifp",
        [line(1, "A1", 1_180_000)],
        {"hifp_pay_fen": 935_000, "maf_pay_fen": 171_500, "psn_cash_pay_fen": 73_500},
        {"maf": AssistanceCategory.MINIMUM_LIVING},
    ),
]

# Resident inpatient level 3, in-scope 30,000.00: deductible 1,000.00, 29,000.00 × 60 % =
# 17,400.00; self-pay this bill 12,600.00.
HIFMI_BILL = [line(1, "A1", 3_000_000)]
CASES += [
    Case(
        # base 14,000.00 → 26,600.00: 11,600.00 above the 15,000.00 threshold × 60 % = 6,960.00
        "hifmi-threshold-crossed-tier-60pct",
        HIFMI_BILL,
        {"hifp_pay_fen": 1_740_000, "hifmi_pay_fen": 696_000, "psn_cash_pay_fen": 564_000},
        {**RESIDENT_IP, "acc": Accumulations(hifmi_selfpay_base_fen=1_400_000)},
        expected_delta={"hifmi_selfpay_base_fen": 1_260_000, "hifmi_paid_fen": 696_000},
    ),
    Case(
        # base 110,000.00 → 122,600.00; tier 1 ends at 15,000.00 + 100,000.00 = 115,000.00:
        # 5,000.00 × 60 % = 3,000.00 + 7,600.00 × 70 % = 5,320.00 → 8,320.00
        "hifmi-tier-boundary-60-70pct",
        HIFMI_BILL,
        {"hifmi_pay_fen": 832_000, "psn_cash_pay_fen": 428_000},
        {**RESIDENT_IP, "acc": Accumulations(hifmi_selfpay_base_fen=11_000_000)},
    ),
    Case(
        # base 200,000.00 → 212,600.00, all in the 70 % tier: 12,600.00 × 70 % = 8,820.00;
        # 398,000.00 of 400,000.00 paid → 2,000.00
        "hifmi-annual-cap",
        HIFMI_BILL,
        {"hifmi_pay_fen": 200_000},
        {
            **RESIDENT_IP,
            "acc": Accumulations(hifmi_selfpay_base_fen=20_000_000, hifmi_paid_fen=39_800_000),
        },
    ),
    Case(
        # basic cap 100,000.00 with 99,000.00 used: 5,400.00 → 1,000.00 paid; self-pay
        # 9,000.00 all above the threshold (base already 15,000.00) × 60 % = 5,400.00
        "hifmi-after-resident-basic-cap",
        MAF_BILL,
        {"hifp_pay_fen": 100_000, "hifmi_pay_fen": 540_000, "psn_cash_pay_fen": 360_000},
        {
            **RESIDENT_IP,
            "acc": Accumulations(hifp_basic_paid_fen=9_900_000, hifmi_selfpay_base_fen=1_500_000),
        },
    ),
    Case(
        # hifmi then assistance on what is left: 3,600.00 × 70 % = 2,520.00
        "hifmi-then-maf-dibao",
        MAF_BILL,
        {"hifmi_pay_fen": 540_000, "maf_pay_fen": 252_000, "psn_cash_pay_fen": 108_000},
        {
            **RESIDENT_IP,
            "maf": AssistanceCategory.MINIMUM_LIVING,
            "acc": Accumulations(hifp_basic_paid_fen=9_900_000, hifmi_selfpay_base_fen=1_500_000),
        },
    ),
]

# Personal account: employee outpatient standard bill, personal part 420.00 − 174.00 = 246.00
CASES += [
    Case(
        "acct-opted-in-balance-too-small",
        OUT_BILL,
        {"acct_pay_fen": 10_000, "psn_cash_pay_fen": 14_600, "balc_fen": 0},
        {"visit": OUT, "balance_fen": 10_000, "opted_in": True},
        expected_delta={"acct_paid_fen": 10_000},
    ),
    Case(
        "acct-opted-in-balance-enough",
        OUT_BILL,
        {"acct_pay_fen": 24_600, "psn_cash_pay_fen": 0, "balc_fen": 75_400},
        {"visit": OUT, "balance_fen": 100_000, "opted_in": True},
    ),
    Case(
        "acct-not-opted-in",
        OUT_BILL,
        {"acct_pay_fen": 0, "psn_cash_pay_fen": 24_600, "balc_fen": 100_000},
        {"visit": OUT, "balance_fen": 100_000},
    ),
    Case(
        # residents have no personal account: the opt-in changes nothing
        "acct-resident-ignored",
        OUT_BILL,
        {"acct_pay_fen": 0, "psn_cash_pay_fen": 25_000},
        {"visit": OUT, "insutype": R, "opted_in": True},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case) -> None:
    req = request(case.lines, **case.kwargs)
    result = settle(req, case.catalogue, policy_for(req.person.insured_pool_code))
    actual = {name: getattr(result, name) for name in case.expected}
    assert actual == case.expected
    delta = result.delta.to_dict()
    for name, value in case.expected_delta.items():
        expected = {k.value: v for k, v in value.items()} if isinstance(value, dict) else value
        assert delta[name] == expected, name
    _assert_books_balance(result)
    after = apply_delta(req.accumulations, result.delta)
    assert reverse_delta(after, result.delta) == req.accumulations
    already_over = exceeded_caps(
        req.accumulations, policy_for(req.person.insured_pool_code), req.person.insutype
    )
    assert (
        exceeded_caps(after, policy_for(req.person.insured_pool_code), req.person.insutype)
        == already_over
    )


def _assert_books_balance(r: SettlementResult) -> None:
    assert r.medfee_sumamt_fen == (
        r.fulamt_ownpay_amt_fen + r.overlmt_selfpay_fen + r.preselfpay_amt_fen + r.inscp_scp_amt_fen
    )
    assert r.medfee_sumamt_fen == r.fund_pay_sumamt_fen + r.psn_part_amt_fen
    assert r.psn_part_amt_fen == r.acct_pay_fen + r.psn_cash_pay_fen
    assert sum(s.amount_fen for s in r.lines) == r.medfee_sumamt_fen


def test_detail_rows_name_each_fund() -> None:
    req = request(
        [line(1, "A1", 2_000_000)],
        maf=AssistanceCategory.MINIMUM_LIVING,
        acc=Accumulations(hifp_basic_paid_fen=11_500_000),
        balance_fen=50_000,
        opted_in=True,
    )
    result = settle(req, GX_CATALOGUE, policy_for(NANNING))
    rows = {row.fund_pay_type: row for row in result.details}
    assert list(rows) == [FundType.HIFP, FundType.HIFOB, FundType.MAF, FundType.ACCT]
    assert rows[FundType.HIFP].crt_payb_lmt_amt_fen == 500_000
    assert "→ paid 5,000.00" in rows[FundType.HIFP].setl_proc_info
    assert rows[FundType.HIFOB].inscp_scp_amt_fen == 1_331_765
    assert rows[FundType.HIFOB].crt_payb_lmt_amt_fen == 40_000_000
    # left after hifp and hifob: 20,000.00 − 5,000.00 − 11,985.89 = 3,014.11 × 70 % = 2,109.88
    assert rows[FundType.MAF].inscp_scp_amt_fen == 301_411
    assert rows[FundType.MAF].fund_payamt_fen == 210_988
    assert rows[FundType.ACCT].fund_payamt_fen == 50_000
    assert result.psn_cash_pay_fen == 301_411 - 210_988 - 50_000


def test_lines_explain_self_pay() -> None:
    req = request([line(1, "C1", 100), line(2, "IP", 100), line(3, "A1", 100)], visit=OUT)
    result = settle(req, GX_CATALOGUE, policy_for(NANNING))
    reasons = [s.selfpay_reason for s in result.lines]
    assert reasons == [SelfPayReason.CLASS_C, SelfPayReason.RESTRICTION_INPATIENT_ONLY, None]


def test_result_to_dict_is_plain() -> None:
    result = settle(request(IP_BILL), GX_CATALOGUE, policy_for(NANNING))
    plain = result.to_dict()
    assert plain["medfee_sumamt_fen"] == 1_250_000
    assert plain["insutype"] == "310" and plain["med_type"] == "21"
    assert plain["details"][0]["fund_pay_type"] == "hifp"
    assert plain["delta"]["hifp_basic_paid_fen"] == 935_000
    assert len(plain["lines"]) == 3
