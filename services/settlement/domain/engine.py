"""The settlement engine: one bill in, every fen of it assigned to a payer out.

就医地目录、参保地政策: each fee line is classified with the treatment province's
catalogue, then the in-scope amount is paid with the insured pool's policy, in order:

1. basic pool fund (hifp): deductible, ratio (lowered by the filing's reduction), cap;
2. employee large-amount subsidy (hifob) on what the exhausted basic cap left unpaid, or
   resident critical-illness insurance (hifmi) on the year's in-scope self-pay above its
   threshold — both for inpatient and chronic/special outpatient bills only;
3. medical assistance (maf) on the in-scope self-pay still left;
4. personal account (employees who opted in), from the personal part, up to the balance;
5. cash: the rest.

Each fund after the basic one is a rule of its own in ``FUNDS_AFTER_BASIC``, in the order
of payment, working on the in-scope amount the funds before it left; what the funds paid
is one map by fund (:class:`Amounts`), shared with the stored records.

An ordinary designated-pharmacy purchase (med_type 41) is an ordinary outpatient bill
where the insured pool's policy admits pharmacies to outpatient pooling, and otherwise
takes nothing from any fund (steps 1–3 pay 0): personal account, then cash.

:func:`settle` is pure: it reads the person's annual accumulations *before* this bill and
returns the delta this bill adds; the caller stores it (:func:`apply_delta`) and a
reversal subtracts it (:func:`reverse_delta`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from types import MappingProxyType
from typing import Any

from shared.errors import FailedPrecondition, Violations
from shared.money import BP_PER_UNIT, apply_bp, format_fen, round_half_up
from shared.vocabulary import SETTLED_FUNDS

from .accumulations import (
    AccumulationDelta,
    Accumulations,
    apply_delta,
    exceeded_caps,
    reverse_delta,
)
from .bill import FeeLine, validate_fee_lines
from .catalogue import Catalogue, LineSplit, UseContext, classify_line
from .codes import (
    AssistanceCategory,
    ByFund,
    ChronicDisease,
    FundType,
    HospitalLevel,
    Insutype,
    PersonType,
    Sex,
    VisitType,
)
from .policy import BenefitPolicy, InsutypeBenefits, basic_ratio_bp

__all__ = [
    "AccountContext",
    "AccumulationDelta",
    "Accumulations",
    "Amounts",
    "EncounterContext",
    "FundDetail",
    "PersonContext",
    "SettleRequest",
    "SettlementResult",
    "apply_delta",
    "reverse_delta",
    "settle",
    "use_context",
]

MAX_AGE_YEARS = 150
MAX_ACCOUNT_BALANCE_FEN = 1_000_000_000  # 10 million yuan
MAX_PROC_INFO_CHARS = 500
POOL_CODE_PATTERN = re.compile(r"^[1-9][0-9]{5}$")
# Second-tier funds (hifob, hifmi) cover the visit types counted in the basic annual cap.
SECOND_TIER_VISITS = frozenset({VisitType.INPATIENT, VisitType.CHRONIC_OUTPATIENT})
# Visit types paid under the ordinary-outpatient deductible, ratio and annual cap.
OUTPATIENT_POOLED_VISITS = frozenset({VisitType.ORDINARY_OUTPATIENT, VisitType.PHARMACY_PURCHASE})


@dataclass(frozen=True)
class PersonContext:
    insured_pool_code: str  # 6-digit pool (参保地)
    insutype: Insutype
    person_type: PersonType
    sex: Sex
    age_years: int
    maf_category: AssistanceCategory | None = None  # None: no assistance


@dataclass(frozen=True)
class EncounterContext:
    treatment_pool_code: str  # 6-digit pool of the hospital (就医地)
    visit_type: VisitType
    hospital_level: HospitalLevel
    treatment_date: date  # selects catalogue and policy versions
    # From the filing coverage check: 0 local/long-term, 1000 referral/emergency, 2000 other.
    ratio_reduction_bp: int = 0
    chronic_disease: ChronicDisease | None = None  # required for chronic/special outpatient


@dataclass(frozen=True)
class AccountContext:
    """The employee's personal account (个人账户) and whether the patient uses it."""

    balance_fen: int = 0
    opted_in: bool = False


@dataclass(frozen=True)
class SettleRequest:
    person: PersonContext
    encounter: EncounterContext
    fee_lines: tuple[FeeLine, ...]
    accumulations: Accumulations
    account: AccountContext = AccountContext()


@dataclass(frozen=True)
class FundDetail:
    """One ``setldetail`` row: what a fund paid and why."""

    fund_pay_type: FundType
    inscp_scp_amt_fen: int  # the base this fund worked on
    crt_payb_lmt_amt_fen: int  # the limit that applied (cap left, or balance)
    fund_payamt_fen: int
    setl_proc_info: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "fund_pay_type": self.fund_pay_type.value,
            "inscp_scp_amt_fen": self.inscp_scp_amt_fen,
            "crt_payb_lmt_amt_fen": self.crt_payb_lmt_amt_fen,
            "fund_payamt_fen": self.fund_payamt_fen,
            "setl_proc_info": self.setl_proc_info,
        }


@dataclass(frozen=True)
class Amounts(ByFund):
    """The money of a ``setlinfo``: the split of the bill and who pays it.

    ``fund_pay_fen`` holds what each fund of ``SETTLED_FUNDS`` paid, in that order (a
    fund that paid nothing is 0); ``<fund>_pay_fen`` (as the national ``setlinfo`` names
    it, e.g. ``hifp_pay_fen``) reads one. All are negated in a reversal.
    """

    medfee_sumamt_fen: int
    fulamt_ownpay_amt_fen: int
    overlmt_selfpay_fen: int
    preselfpay_amt_fen: int
    inscp_scp_amt_fen: int
    act_pay_dedc_fen: int
    fund_pay_fen: Mapping[FundType, int] = field(hash=False)
    fund_pay_sumamt_fen: int
    psn_part_amt_fen: int
    acct_pay_fen: int
    psn_cash_pay_fen: int

    FUNDS = SETTLED_FUNDS
    FUND_SUFFIX = "_pay_fen"
    FUND_MAP = "fund_pay_fen"

    def __post_init__(self) -> None:
        assert set(self.fund_pay_fen) <= set(SETTLED_FUNDS), self.fund_pay_fen
        funds = {f: self.fund_pay_fen.get(f, 0) for f in SETTLED_FUNDS}
        object.__setattr__(self, "fund_pay_fen", MappingProxyType(funds))
        parts_fen = (
            self.fulamt_ownpay_amt_fen
            + self.overlmt_selfpay_fen
            + self.preselfpay_amt_fen
            + self.inscp_scp_amt_fen
        )
        assert self.medfee_sumamt_fen == parts_fen, self
        assert self.fund_pay_sumamt_fen == sum(funds.values()), self
        assert self.medfee_sumamt_fen == self.fund_pay_sumamt_fen + self.psn_part_amt_fen, self
        assert self.psn_part_amt_fen == self.acct_pay_fen + self.psn_cash_pay_fen, self

    def negated(self) -> Amounts:
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fund_pay_fen"}
        funds = {fund: -value for fund, value in self.fund_pay_fen.items()}
        return Amounts(**{name: -value for name, value in plain.items()}, fund_pay_fen=funds)

    def as_dict(self) -> dict[str, int]:
        """Every amount by its national ``setlinfo`` name, the funds as ``<fund>_pay_fen``."""
        plain = {f.name: getattr(self, f.name) for f in fields(self)}
        funds = {f"{fund.value}{self.FUND_SUFFIX}": fen for fund, fen in self.fund_pay_fen.items()}
        position = list(plain).index("fund_pay_fen")
        items = list(plain.items())
        return {**dict(items[:position]), **funds, **dict(items[position + 1 :])}


@dataclass(frozen=True)
class SettlementResult:
    """The ``setlinfo`` of a settlement, in fen, plus its detail rows, lines and delta.

    Its amounts read as attributes too (``result.hifp_pay_fen``)."""

    insutype: Insutype
    med_type: VisitType
    policy_version_id: str
    catalogue_version_id: str
    amounts: Amounts
    pool_prop_selfpay_bp: int  # the basic-fund ratio applied
    balc_fen: int
    details: tuple[FundDetail, ...]
    lines: tuple[LineSplit, ...]
    delta: AccumulationDelta

    def __getattr__(self, name: str) -> int:
        if name.startswith("_") or name == "amounts":
            raise AttributeError(name)
        value: int = getattr(self.amounts, name)
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "insutype": self.insutype.value,
            "med_type": self.med_type.value,
            "policy_version_id": self.policy_version_id,
            "catalogue_version_id": self.catalogue_version_id,
            **self.amounts.as_dict(),
            "pool_prop_selfpay_bp": self.pool_prop_selfpay_bp,
            "balc_fen": self.balc_fen,
            "details": [d.to_dict() for d in self.details],
            "lines": [line.to_dict() for line in self.lines],
            "delta": self.delta.to_dict(),
        }


def settle(request: SettleRequest, catalogue: Catalogue, policy: BenefitPolicy) -> SettlementResult:
    """Settle one bill. Raises InvalidArgument / FailedPrecondition; never half-computes."""
    _validate(request, catalogue, policy)
    person = request.person
    use = use_context(request)
    lines = tuple(
        classify_line(catalogue, line, f"fee_lines[{index}]", use)
        for index, line in enumerate(request.fee_lines)
    )
    split = _BillSplit.of(lines)
    benefits = policy.benefits(person.insutype)
    if _pooled(request, policy):
        basic = _basic_fund(request, benefits, split.inscp_fen)
        after_basic = _funds_after_basic(request, policy, split.inscp_fen, basic)
    else:
        basic, after_basic = _not_pooled(policy, split.inscp_fen), ()
    funds = (_basic_paid(split.inscp_fen, basic), *after_basic)
    acct = _account(request, split.total_fen - sum(p.paid_fen for p in funds))
    delta = _delta(request, basic, after_basic, acct)
    result = _result(request, catalogue, policy, split, lines, basic, funds, acct, delta)
    _assert_result(result, request, policy)
    return result


def use_context(request: SettleRequest) -> UseContext:
    """What catalogue restrictions are checked against for this bill."""
    person, encounter = request.person, request.encounter
    return UseContext(encounter.visit_type, person.sex, person.age_years, encounter.chronic_disease)


# --- validation ----------------------------------------------------------------------


def _validate(request: SettleRequest, catalogue: Catalogue, policy: BenefitPolicy) -> None:
    person, encounter, account = request.person, request.encounter, request.account
    errors = Violations()
    errors.check(
        bool(POOL_CODE_PATTERN.match(person.insured_pool_code)),
        "person.insured_pool_code",
        "a 6-digit pool code",
    )
    errors.check(0 <= person.age_years <= MAX_AGE_YEARS, "person.age_years", f"0..{MAX_AGE_YEARS}")
    errors.check(
        bool(POOL_CODE_PATTERN.match(encounter.treatment_pool_code)),
        "encounter.treatment_pool_code",
        "a 6-digit pool code",
    )
    errors.check(
        0 <= encounter.ratio_reduction_bp <= BP_PER_UNIT,
        "encounter.ratio_reduction_bp",
        f"0..{BP_PER_UNIT}",
    )
    is_chronic = encounter.visit_type is VisitType.CHRONIC_OUTPATIENT
    errors.check(
        is_chronic == (encounter.chronic_disease is not None),
        "encounter.chronic_disease",
        "required for a chronic/special outpatient visit, and only for it",
    )
    errors.check(
        0 <= account.balance_fen <= MAX_ACCOUNT_BALANCE_FEN,
        "account.balance_fen",
        f"0..{MAX_ACCOUNT_BALANCE_FEN}",
    )
    errors.raise_if_any()
    validate_fee_lines(request.fee_lines)
    _check_versions(request, catalogue, policy)


def _check_versions(request: SettleRequest, catalogue: Catalogue, policy: BenefitPolicy) -> None:
    encounter, person = request.encounter, request.person
    if catalogue.province_code != encounter.treatment_pool_code[:2]:
        raise FailedPrecondition(
            "CATALOGUE_PROVINCE_MISMATCH",
            f"catalogue {catalogue.version_id} is for province {catalogue.province_code}, "
            f"the hospital is in pool {encounter.treatment_pool_code}",
        )
    if catalogue.effective_date > encounter.treatment_date:
        raise FailedPrecondition(
            "CATALOGUE_NOT_IN_EFFECT",
            f"catalogue {catalogue.version_id} takes effect on {catalogue.effective_date}",
        )
    if not policy.covers(person.insured_pool_code):
        raise FailedPrecondition(
            "POLICY_POOL_MISMATCH",
            f"policy {policy.version_id} does not cover pool {person.insured_pool_code}",
        )
    if policy.effective_date > encounter.treatment_date:
        raise FailedPrecondition(
            "POLICY_NOT_IN_EFFECT",
            f"policy {policy.version_id} takes effect on {policy.effective_date}",
        )
    disease = encounter.chronic_disease
    covered = policy.benefits(person.insutype).chronic.diseases
    if disease is not None and disease not in covered:
        raise FailedPrecondition(
            "CHRONIC_DISEASE_NOT_COVERED",
            f"chronic/special disease {disease.value} is not covered by {policy.version_id}",
        )


# --- the split of the bill -----------------------------------------------------------


@dataclass(frozen=True)
class _BillSplit:
    total_fen: int
    fulamt_fen: int
    overlmt_fen: int
    pre_fen: int
    inscp_fen: int

    @classmethod
    def of(cls, lines: tuple[LineSplit, ...]) -> _BillSplit:
        split = cls(
            total_fen=sum(s.amount_fen for s in lines),
            fulamt_fen=sum(s.fulamt_ownpay_fen for s in lines),
            overlmt_fen=sum(s.overlmt_selfpay_fen for s in lines),
            pre_fen=sum(s.preselfpay_fen for s in lines),
            inscp_fen=sum(s.inscp_fen for s in lines),
        )
        parts_fen = split.fulamt_fen + split.overlmt_fen + split.pre_fen + split.inscp_fen
        assert parts_fen == split.total_fen
        return split


# --- 1. basic pool fund --------------------------------------------------------------


def _pooled(request: SettleRequest, policy: BenefitPolicy) -> bool:
    """Whether any fund pays this bill: all but a pharmacy purchase the policy keeps out."""
    if request.encounter.visit_type is not VisitType.PHARMACY_PURCHASE:
        return True
    return policy.pharmacy.outpatient_pooling


@dataclass(frozen=True)
class _Basic:
    deductible_fen: int
    ratio_bp: int
    eligible_fen: int  # in-scope after the deductible
    uncapped_fen: int  # eligible × ratio, before the cap
    cap_left_fen: int
    cap_label: str
    paid_fen: int
    # In-scope amount beyond what the exhausted basic annual cap paid for (hifob's base);
    # 0 when no cap bound, or when only a per-disease or outpatient cap bound.
    above_basic_cap_fen: int
    note: str = ""  # replaces the computation in setl_proc_info when nothing was computed


def _not_pooled(policy: BenefitPolicy, inscp_fen: int) -> _Basic:
    note = (
        f"pharmacy purchase: {policy.version_id} does not admit pharmacies to outpatient"
        f" pooling (门诊统筹进药店); in-scope {format_fen(inscp_fen)} is the person's to pay"
    )
    return _Basic(0, 0, inscp_fen, 0, 0, "not pooled", 0, 0, note)


def _basic_fund(request: SettleRequest, benefits: InsutypeBenefits, inscp_fen: int) -> _Basic:
    encounter = request.encounter
    ratio_bp = basic_ratio_bp(
        benefits,
        encounter.visit_type,
        encounter.hospital_level,
        request.person.person_type,
        encounter.ratio_reduction_bp,
    )
    deductible_fen = min(inscp_fen, _deductible_left_fen(request, benefits))
    eligible_fen = inscp_fen - deductible_fen
    uncapped_fen = apply_bp(eligible_fen, ratio_bp)
    cap_left_fen, cap_label, basic_cap_binds = _basic_cap(request, benefits)
    paid_fen = min(uncapped_fen, cap_left_fen)
    above_fen = 0
    if basic_cap_binds and paid_fen < uncapped_fen:
        # The in-scope amount the remaining cap could pay for at this ratio; the rest is
        # above the cap. ratio_bp > 0 here, since uncapped_fen > paid_fen >= 0.
        covered_fen = min(eligible_fen, round_half_up(cap_left_fen * BP_PER_UNIT, ratio_bp))
        above_fen = eligible_fen - covered_fen
    assert 0 <= paid_fen <= eligible_fen and 0 <= above_fen <= eligible_fen - paid_fen
    return _Basic(
        deductible_fen,
        ratio_bp,
        eligible_fen,
        uncapped_fen,
        cap_left_fen,
        cap_label,
        paid_fen,
        above_fen,
    )


def _deductible_left_fen(request: SettleRequest, benefits: InsutypeBenefits) -> int:
    encounter = request.encounter
    if encounter.visit_type is VisitType.INPATIENT:
        return benefits.inpatient.deductible_fen(encounter.hospital_level)
    if encounter.visit_type in OUTPATIENT_POOLED_VISITS:
        used_fen = request.accumulations.outpatient_deductible_used_fen
        return max(0, benefits.outpatient.annual_deductible_fen - used_fen)
    return 0  # chronic/special outpatient has no deductible


def _basic_cap(request: SettleRequest, benefits: InsutypeBenefits) -> tuple[int, str, bool]:
    """(cap left, its label, whether it is the basic annual cap) for this visit type."""
    encounter, acc = request.encounter, request.accumulations
    if encounter.visit_type in OUTPATIENT_POOLED_VISITS:
        left_fen = max(0, benefits.outpatient.annual_cap_fen - acc.hifp_outpatient_paid_fen)
        return left_fen, "outpatient cap left", False
    basic_left_fen = max(0, benefits.basic.annual_cap_fen - acc.hifp_basic_paid_fen)
    disease = encounter.chronic_disease
    if encounter.visit_type is VisitType.INPATIENT or disease is None:
        return basic_left_fen, "annual cap left", True
    disease_left_fen = max(
        0, benefits.chronic.annual_cap_fen_per_disease - acc.chronic_paid_fen(disease)
    )
    if disease_left_fen < basic_left_fen:
        return disease_left_fen, f"{disease.value} cap left", False
    return basic_left_fen, "annual cap left", True


# --- 2., 3. the funds after the basic fund --------------------------------------------


@dataclass(frozen=True)
class _Paid:
    """What one fund paid for this bill: its ``setldetail`` row."""

    fund: FundType
    base_fen: int
    cap_left_fen: int
    paid_fen: int
    info: str
    selfpay_base_added_fen: int = 0  # hifmi: in-scope self-pay this bill adds to the year's base


def _basic_paid(inscp_fen: int, basic: _Basic) -> _Paid:
    info = _basic_info(inscp_fen, basic)
    return _Paid(FundType.HIFP, inscp_fen, basic.cap_left_fen, basic.paid_fen, info)


# A fund's rule: what it pays of this bill, given the basic fund's computation and the
# in-scope amount the funds before it left unpaid; None when the fund does not apply.
_FundRule = Callable[["SettleRequest", BenefitPolicy, _Basic, int], "_Paid | None"]


def _funds_after_basic(
    request: SettleRequest, policy: BenefitPolicy, inscp_fen: int, basic: _Basic
) -> tuple[_Paid, ...]:
    """Each fund after the basic one, in the order of payment (``FUNDS_AFTER_BASIC``)."""
    paid: list[_Paid] = []
    for rule in FUNDS_AFTER_BASIC:
        left_fen = inscp_fen - basic.paid_fen - sum(p.paid_fen for p in paid)
        one = rule(request, policy, basic, left_fen)
        if one is not None:
            paid.append(one)
    return tuple(paid)


def _hifob(
    request: SettleRequest, policy: BenefitPolicy, basic: _Basic, _left_fen: int
) -> _Paid | None:
    """Employees' second tier: the in-scope amount the exhausted basic annual cap left."""
    second_tier = request.encounter.visit_type in SECOND_TIER_VISITS
    if not second_tier or request.person.insutype is not Insutype.EMPLOYEE:
        return None
    rule = policy.hifob
    what = "in-scope above the basic annual cap"
    base_fen = basic.above_basic_cap_fen
    return _share_within_cap(
        request, FundType.HIFOB, what, base_fen, rule.ratio_bp, rule.annual_cap_fen
    )


def _share_within_cap(
    request: SettleRequest,
    fund: FundType,
    what: str,
    base_fen: int,
    ratio_bp: int,
    annual_cap_fen: int,
    note: str = "",
) -> _Paid:
    """A fund that pays a share of a base, up to what its annual cap has left."""
    cap_left_fen = max(0, annual_cap_fen - request.accumulations.fund_fen(fund))
    uncapped_fen = apply_bp(base_fen, ratio_bp)
    paid_fen = min(uncapped_fen, cap_left_fen)
    info = (
        f"{what} {format_fen(base_fen)} × {_pct(ratio_bp)}{note} = {format_fen(uncapped_fen)};"
        f" annual cap left {format_fen(cap_left_fen)}{_paid_suffix(paid_fen, uncapped_fen)}"
    )
    return _Paid(fund, base_fen, cap_left_fen, paid_fen, info)


def _hifmi(
    request: SettleRequest, policy: BenefitPolicy, _basic: _Basic, selfpay_fen: int
) -> _Paid | None:
    """Residents' second tier: the year's in-scope self-pay above the threshold."""
    second_tier = request.encounter.visit_type in SECOND_TIER_VISITS
    if not second_tier or request.person.insutype is Insutype.EMPLOYEE:
        return None
    rule = policy.hifmi
    cap_left_fen = max(0, rule.annual_cap_fen - request.accumulations.fund_fen(FundType.HIFMI))
    before_fen = request.accumulations.hifmi_selfpay_base_fen
    after_fen = before_fen + selfpay_fen
    uncapped_fen, steps = 0, []
    lower_fen = rule.threshold_fen
    for tier in rule.tiers:
        upper_fen = (
            None if tier.segment_upto_fen is None else rule.threshold_fen + tier.segment_upto_fen
        )
        overlap_fen = _overlap_fen(before_fen, after_fen, lower_fen, upper_fen)
        if overlap_fen > 0:
            tier_pay_fen = apply_bp(overlap_fen, tier.ratio_bp)
            uncapped_fen += tier_pay_fen
            steps.append(f"{format_fen(overlap_fen)} × {_pct(tier.ratio_bp)}")
        lower_fen = upper_fen if upper_fen is not None else lower_fen
    paid_fen = min(uncapped_fen, cap_left_fen)
    base_fen = max(0, after_fen - max(before_fen, rule.threshold_fen))
    info = (
        f"in-scope self-pay this year {format_fen(before_fen)} → {format_fen(after_fen)},"
        f" threshold {format_fen(rule.threshold_fen)}: "
        f"{' + '.join(steps) or 'nothing above it'} = {format_fen(uncapped_fen)};"
        f" annual cap left {format_fen(cap_left_fen)}{_paid_suffix(paid_fen, uncapped_fen)}"
    )
    return _Paid(FundType.HIFMI, base_fen, cap_left_fen, paid_fen, info, selfpay_fen)


def _overlap_fen(start_fen: int, end_fen: int, lower_fen: int, upper_fen: int | None) -> int:
    """Length of [start, end) ∩ [lower, upper); upper None means unbounded."""
    top_fen = end_fen if upper_fen is None else min(end_fen, upper_fen)
    return max(0, top_fen - max(start_fen, lower_fen))


def _assistance(
    request: SettleRequest, policy: BenefitPolicy, _basic: _Basic, remaining_fen: int
) -> _Paid | None:
    """Medical assistance: a share, by category, of the in-scope self-pay left."""
    category = request.person.maf_category
    if category is None:
        return None
    rule = policy.maf
    ratio_bp = rule.ratio_bp_by_category[category]
    what, note = "in-scope self-pay left", f" ({category.value.lower()})"
    return _share_within_cap(
        request, FundType.MAF, what, remaining_fen, ratio_bp, rule.annual_cap_fen, note
    )


# The order of payment after the basic fund: the second tier (hifob or hifmi), then
# assistance on what the insurances left. A new fund adds its rule here.
FUNDS_AFTER_BASIC: tuple[_FundRule, ...] = (_hifob, _hifmi, _assistance)


# --- 4. personal account -------------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    applies: bool
    personal_part_fen: int
    balance_fen: int
    paid_fen: int


def _account(request: SettleRequest, personal_part_fen: int) -> _Account:
    account = request.account
    # Residents have no personal account: an opt-in from their HIS changes nothing.
    applies = account.opted_in and request.person.insutype is Insutype.EMPLOYEE
    paid_fen = min(personal_part_fen, account.balance_fen) if applies else 0
    return _Account(applies, personal_part_fen, account.balance_fen, paid_fen)


# --- delta and result ----------------------------------------------------------------


def _delta(
    request: SettleRequest,
    basic: _Basic,
    after_basic: tuple[_Paid, ...],
    acct: _Account,
) -> AccumulationDelta:
    visit = request.encounter.visit_type
    disease = request.encounter.chronic_disease
    is_outpatient = visit in OUTPATIENT_POOLED_VISITS
    return AccumulationDelta(
        outpatient_deductible_used_fen=basic.deductible_fen if is_outpatient else 0,
        hifp_basic_paid_fen=0 if is_outpatient else basic.paid_fen,
        hifp_outpatient_paid_fen=basic.paid_fen if is_outpatient else 0,
        chronic_hifp_paid_fen={disease: basic.paid_fen} if disease is not None else {},
        hifmi_selfpay_base_fen=sum(p.selfpay_base_added_fen for p in after_basic),
        fund_paid_fen={
            **{p.fund: p.paid_fen for p in after_basic},
            FundType.ACCT: acct.paid_fen,
        },
    )


def _result(
    request: SettleRequest,
    catalogue: Catalogue,
    policy: BenefitPolicy,
    split: _BillSplit,
    lines: tuple[LineSplit, ...],
    basic: _Basic,
    funds: tuple[_Paid, ...],
    acct: _Account,
    delta: AccumulationDelta,
) -> SettlementResult:
    fund_sum_fen = sum(p.paid_fen for p in funds)
    personal_fen = split.total_fen - fund_sum_fen
    amounts = Amounts(
        medfee_sumamt_fen=split.total_fen,
        fulamt_ownpay_amt_fen=split.fulamt_fen,
        overlmt_selfpay_fen=split.overlmt_fen,
        preselfpay_amt_fen=split.pre_fen,
        inscp_scp_amt_fen=split.inscp_fen,
        act_pay_dedc_fen=basic.deductible_fen,
        fund_pay_fen={p.fund: p.paid_fen for p in funds},
        fund_pay_sumamt_fen=fund_sum_fen,
        psn_part_amt_fen=personal_fen,
        acct_pay_fen=acct.paid_fen,
        psn_cash_pay_fen=personal_fen - acct.paid_fen,
    )
    return SettlementResult(
        insutype=request.person.insutype,
        med_type=request.encounter.visit_type,
        policy_version_id=policy.version_id,
        catalogue_version_id=catalogue.version_id,
        amounts=amounts,
        pool_prop_selfpay_bp=basic.ratio_bp,
        balc_fen=acct.balance_fen - acct.paid_fen,
        details=_details(funds, acct),
        lines=lines,
        delta=delta,
    )


def _details(funds: tuple[_Paid, ...], acct: _Account) -> tuple[FundDetail, ...]:
    rows = [FundDetail(p.fund, p.base_fen, p.cap_left_fen, p.paid_fen, p.info) for p in funds]
    if acct.applies:
        info = (
            f"personal part {format_fen(acct.personal_part_fen)}; balance"
            f" {format_fen(acct.balance_fen)}{_paid_suffix(acct.paid_fen, acct.personal_part_fen)}"
        )
        rows.append(
            FundDetail(FundType.ACCT, acct.personal_part_fen, acct.balance_fen, acct.paid_fen, info)
        )
    return tuple(rows)


def _basic_info(inscp_fen: int, basic: _Basic) -> str:
    if basic.note:
        return basic.note
    return (
        f"in-scope {format_fen(inscp_fen)} − deductible {format_fen(basic.deductible_fen)}"
        f" = {format_fen(basic.eligible_fen)} × {_pct(basic.ratio_bp)}"
        f" = {format_fen(basic.uncapped_fen)}; {basic.cap_label} {format_fen(basic.cap_left_fen)}"
        f"{_paid_suffix(basic.paid_fen, basic.uncapped_fen)}"
    )


def _pct(ratio_bp: int) -> str:
    return f"{ratio_bp // 100}.{ratio_bp % 100:02d} %"


def _paid_suffix(paid_fen: int, computed_fen: int) -> str:
    """Says what was paid only when a limit cut the computed amount."""
    return f" → paid {format_fen(paid_fen)}" if paid_fen != computed_fen else ""


# --- invariants ----------------------------------------------------------------------


def _assert_result(result: SettlementResult, request: SettleRequest, policy: BenefitPolicy) -> None:
    r, a = result, result.amounts  # Amounts checks that the parts add up to the totals
    assert all(value >= 0 for value in (*a.as_dict().values(), r.balc_fen)), r
    assert a.fund_pay_sumamt_fen <= a.inscp_scp_amt_fen
    assert a.acct_pay_fen <= request.account.balance_fen
    assert sum(d.fund_payamt_fen for d in r.details) == a.fund_pay_sumamt_fen + a.acct_pay_fen
    assert all(len(d.setl_proc_info) <= MAX_PROC_INFO_CHARS for d in r.details)
    _assert_within_caps(request, policy, r.delta)


def _assert_within_caps(
    request: SettleRequest, policy: BenefitPolicy, delta: AccumulationDelta
) -> None:
    """A counter may be above its cap after the bill only if it already was and did not move."""
    before = request.accumulations
    after = apply_delta(before, delta)
    insutype = request.person.insutype
    already_over = set(exceeded_caps(before, policy, insutype))
    for name in exceeded_caps(after, policy, insutype):
        assert name in already_over, name
        assert _counter_fen(after, name) == _counter_fen(before, name), name
    assert reverse_delta(after, delta) == before


def _counter_fen(acc: Accumulations, name: str) -> int:
    if name.startswith("chronic_hifp_paid_fen["):
        return acc.chronic_paid_fen(ChronicDisease(name[len("chronic_hifp_paid_fen[") : -1]))
    return acc.scalars()[name]
