"""An encounter (就诊): one outpatient visit or inpatient stay, and the rules of its states.

States::

    OPEN ──settle──▶ SETTLED ──reverse──▶ OPEN
      │
      └──cancel (2202, 2404, or a correction of 2201/2401)──▶ CANCELLED

An inpatient stay is also discharged (2402) at some point, before or after settlement;
discharge is a date on the encounter, not a state, because hospitals do it in either
order. A discharge is withdrawn (2405) only while no settlement stands. Fee lines are uploaded and cancelled only while the encounter is OPEN, so a
settlement always covers exactly the lines that stood when it committed.

The person and the coverage decision are snapshots taken when the encounter opened:
settlement uses the person as they were registered, and a coverage that was refused is
checked again at (pre-)settlement, which is how a retroactive filing (补办) lets the same
encounter settle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Violations
from shared.vocabulary import AssistanceCategory

from .accumulations import Accumulations
from .bill import MAX_BILL_AMOUNT_FEN, MAX_LINES_PER_BILL, FeeLine, validate_fee_lines
from .catalogue import Catalogue, LineSplit, UseContext, classify_line
from .codes import ChronicDisease, HospitalLevel, Insutype, PersonType, Sex, VisitType
from .engine import AccountContext, EncounterContext, PersonContext, SettleRequest

MAX_LINES_PER_UPLOAD = 500
MAX_LINES_PER_CANCEL = MAX_LINES_PER_BILL
OUTPATIENT_VISITS = frozenset({VisitType.ORDINARY_OUTPATIENT, VisitType.CHRONIC_OUTPATIENT})


class EncounterState(StrEnum):
    OPEN = "OPEN"
    SETTLED = "SETTLED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class PersonSnapshot:
    """The insured person as the filing service knew them when the encounter opened."""

    psn_no: str
    name: str
    insured_pool: str
    insutype: Insutype
    person_type: PersonType
    sex: Sex
    birth_date: date
    maf_category: AssistanceCategory | None  # None: no assistance (NONE)
    acct_opening_balance_fen: int  # employees: credited at the start of the year

    def __post_init__(self) -> None:
        assert self.psn_no.startswith(self.insured_pool), (self.psn_no, self.insured_pool)
        assert self.acct_opening_balance_fen >= 0, self.acct_opening_balance_fen

    def age_years_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return max(0, day.year - self.birth_date.year - int(before_birthday))


@dataclass(frozen=True)
class Coverage:
    """The filing service's decision on direct settlement of this visit."""

    relation: str  # LOCAL | IN_PROVINCE | CROSS_PROVINCE
    allowed: bool
    basis: str  # e.g. FILING, EMERGENCY; empty when refused
    filing_id: str
    filing_category: str
    ratio_reduction_bp: int
    local_ratio: bool
    reason_code: str  # e.g. FILING_REQUIRED; empty when allowed
    message: str

    def __post_init__(self) -> None:
        assert 0 <= self.ratio_reduction_bp <= 10_000, self.ratio_reduction_bp
        assert self.allowed == (self.reason_code == ""), (self.allowed, self.reason_code)

    def require_allowed(self) -> None:
        if not self.allowed:
            raise FailedPrecondition(
                self.reason_code, f"direct settlement is not covered: {self.message}"
            )


@dataclass(frozen=True)
class Encounter:
    mdtrt_id: str
    hospital_code: str
    hospital_level: HospitalLevel
    treatment_pool: str
    person: PersonSnapshot
    visit_type: VisitType
    chronic_disease: ChronicDisease | None
    emergency: bool
    begin_date: date  # the treatment date that selects policy and catalogue versions
    discharge_date: date | None
    state: EncounterState
    setl_id: str | None  # the standing settlement while SETTLED
    coverage: Coverage
    line_count: int

    def __post_init__(self) -> None:
        assert (self.state is EncounterState.SETTLED) == (self.setl_id is not None), self
        assert (self.visit_type is VisitType.CHRONIC_OUTPATIENT) == (
            self.chronic_disease is not None
        ), self
        assert 0 <= self.line_count <= MAX_LINES_PER_BILL, self.line_count

    @property
    def is_inpatient(self) -> bool:
        return self.visit_type is VisitType.INPATIENT

    def with_coverage(self, coverage: Coverage) -> Encounter:
        return replace(self, coverage=coverage)

    def use_context(self) -> UseContext:
        return UseContext(
            self.visit_type,
            self.person.sex,
            self.person.age_years_on(self.begin_date),
            self.chronic_disease,
        )


# --- guards --------------------------------------------------------------------------


def require_owner(encounter: Encounter, hospital_code: str) -> None:
    if encounter.hospital_code != hospital_code:
        raise PermissionDenied(f"encounter {encounter.mdtrt_id} belongs to another hospital")


def require_person(encounter: Encounter, psn_no: str, insured_pool: str | None) -> None:
    """The request names the encounter's patient (a guard against keying the wrong one)."""
    errors = Violations()
    errors.check(
        psn_no == encounter.person.psn_no,
        "psn_no",
        f"is not the patient of encounter {encounter.mdtrt_id}",
    )
    if insured_pool is not None:
        errors.check(
            insured_pool == encounter.person.insured_pool,
            "header.insuplc_admdvs",
            f"the patient is insured in {encounter.person.insured_pool}",
        )
    errors.raise_if_any()


def require_open(encounter: Encounter) -> None:
    """Fee lines change, and a settlement is made, only on an OPEN encounter."""
    if encounter.state is EncounterState.CANCELLED:
        raise FailedPrecondition(
            "ENCOUNTER_CANCELLED", f"encounter {encounter.mdtrt_id} was cancelled"
        )
    if encounter.state is EncounterState.SETTLED:
        raise FailedPrecondition(
            "ENCOUNTER_ALREADY_SETTLED",
            f"encounter {encounter.mdtrt_id} is settled ({encounter.setl_id}): "
            "reverse the settlement first",
        )


def require_settleable(encounter: Encounter, line_amount_total_fen: int) -> None:
    require_open(encounter)
    if encounter.line_count == 0:
        raise FailedPrecondition(
            "NO_FEE_LINES", f"encounter {encounter.mdtrt_id} has no fee lines to settle"
        )
    assert line_amount_total_fen > 0, line_amount_total_fen
    encounter.coverage.require_allowed()


def require_dischargeable(encounter: Encounter, discharge_date: date) -> None:
    if not encounter.is_inpatient:
        raise FailedPrecondition(
            "NOT_AN_INPATIENT_ENCOUNTER",
            f"encounter {encounter.mdtrt_id} is an outpatient visit: nothing to discharge",
        )
    if encounter.state is EncounterState.CANCELLED:
        raise FailedPrecondition(
            "ENCOUNTER_CANCELLED", f"encounter {encounter.mdtrt_id} was cancelled"
        )
    if encounter.discharge_date is not None:
        raise FailedPrecondition(
            "ALREADY_DISCHARGED",
            f"encounter {encounter.mdtrt_id} was discharged on {encounter.discharge_date}",
        )
    if discharge_date < encounter.begin_date:
        raise InvalidArgument(
            "endtime", f"{discharge_date} is before the admission on {encounter.begin_date}"
        )


def require_inpatient(encounter: Encounter, what: str) -> None:
    if not encounter.is_inpatient:
        raise FailedPrecondition(
            "NOT_AN_INPATIENT_ENCOUNTER",
            f"encounter {encounter.mdtrt_id} is an outpatient visit: {what}",
        )


def require_outpatient(encounter: Encounter, what: str) -> None:
    if encounter.is_inpatient:
        raise FailedPrecondition(
            "NOT_AN_OUTPATIENT_ENCOUNTER",
            f"encounter {encounter.mdtrt_id} is an inpatient stay: {what}",
        )


def require_registration_cancellable(encounter: Encounter) -> None:
    """2202: an outpatient registration with no standing settlement (its standing fee
    lines are cancelled with it)."""
    require_outpatient(encounter, "cancel the admission (2404) instead")
    require_cancellable(encounter)


def require_admission_cancellable(encounter: Encounter) -> None:
    """2404: an admission with no standing settlement, fee lines or discharge."""
    require_inpatient(encounter, "cancel the registration (2202) instead")
    require_cancellable(encounter)
    if encounter.line_count:
        raise FailedPrecondition(
            "FEE_LINES_STANDING",
            f"encounter {encounter.mdtrt_id} has {encounter.line_count} standing fee lines: "
            "cancel them first (2302)",
        )
    if encounter.discharge_date is not None:
        raise FailedPrecondition(
            "ALREADY_DISCHARGED",
            f"encounter {encounter.mdtrt_id} was discharged on {encounter.discharge_date}: "
            "cancel the discharge first (2405)",
        )


def require_admission_changeable(encounter: Encounter) -> None:
    """2403: a stay's admission details change only before it is settled."""
    require_inpatient(encounter, "nothing to change on an admission")
    require_open(encounter)


def check_admission_date(
    encounter: Encounter, new_date: date, earliest_line_date: date | None
) -> None:
    """A new admission date keeps the discharge and every standing fee line in the stay."""
    if encounter.discharge_date is not None and new_date > encounter.discharge_date:
        raise InvalidArgument(
            "begntime", f"{new_date} is after the discharge on {encounter.discharge_date}"
        )
    if earliest_line_date is not None and earliest_line_date < new_date:
        raise FailedPrecondition(
            "FEE_LINES_BEFORE_ADMISSION",
            f"a standing fee line of encounter {encounter.mdtrt_id} is dated "
            f"{earliest_line_date}, before {new_date}: cancel it first (2302)",
        )


def require_discharge_cancellable(encounter: Encounter) -> None:
    """2405: a discharge is withdrawn only while no settlement stands."""
    require_inpatient(encounter, "nothing to discharge")
    require_open(encounter)
    if encounter.discharge_date is None:
        raise FailedPrecondition(
            "NOT_DISCHARGED", f"encounter {encounter.mdtrt_id} has not been discharged"
        )


def require_cancellable(encounter: Encounter) -> None:
    """A registration or admission is undone only while nothing stands on it."""
    if encounter.state is EncounterState.SETTLED:
        raise FailedPrecondition(
            "ENCOUNTER_ALREADY_SETTLED",
            f"encounter {encounter.mdtrt_id} is settled ({encounter.setl_id}): "
            "reverse the settlement first",
        )
    if encounter.state is EncounterState.CANCELLED:
        raise FailedPrecondition(
            "ENCOUNTER_CANCELLED", f"encounter {encounter.mdtrt_id} was cancelled already"
        )


# --- fee lines -----------------------------------------------------------------------


def validate_upload(
    encounter: Encounter,
    standing_amount_fen: int,
    lines: Sequence[FeeLine],
    catalogue: Catalogue,
    today: date,
) -> tuple[LineSplit, ...]:
    """Check an upload against the limits, the dates and the catalogue; classify it.

    The limits are the encounter's, not only the upload's: lines and amount already
    standing count, so no sequence of uploads builds a bill the engine would refuse.
    """
    assert 0 <= standing_amount_fen <= MAX_BILL_AMOUNT_FEN, standing_amount_fen
    errors = Violations()
    errors.check(
        0 < len(lines) <= MAX_LINES_PER_UPLOAD,
        "feedetail",
        f"an upload carries 1 to {MAX_LINES_PER_UPLOAD} lines, got {len(lines)}",
    )
    errors.raise_if_any()  # do not walk an oversized list
    room = MAX_LINES_PER_BILL - encounter.line_count
    errors.check(
        len(lines) <= room,
        "feedetail",
        f"an encounter holds at most {MAX_LINES_PER_BILL} lines; "
        f"{encounter.line_count} stand, room for {room}",
    )
    errors.raise_if_any()
    try:
        validate_fee_lines(lines)
    except InvalidArgument as exc:
        raise _as_feedetail_fields(exc) from None
    upload_fen = sum(line.amount_fen for line in lines)
    errors.check(
        standing_amount_fen + upload_fen <= MAX_BILL_AMOUNT_FEN,
        "feedetail",
        f"the encounter's bill would total {standing_amount_fen + upload_fen} fen, "
        f"above the limit of {MAX_BILL_AMOUNT_FEN} fen",
    )
    last_day = today if encounter.discharge_date is None else encounter.discharge_date
    for index, line in enumerate(lines):
        errors.check(
            encounter.begin_date <= line.fee_date <= last_day,
            f"feedetail[{index}].fee_ocur_time",
            f"must lie in the encounter, {encounter.begin_date}..{last_day}",
        )
        if catalogue.lookup(line.item_code) is None:
            errors.add(
                f"feedetail[{index}].med_list_codg",
                f"item {line.item_code!r} is not in catalogue {catalogue.version_id}",
            )
    errors.raise_if_any()
    use = encounter.use_context()
    return tuple(
        classify_line(catalogue, line, f"feedetail[{index}]", use)
        for index, line in enumerate(lines)
    )


# The bill rules name the engine's fields; a hospital knows the national ones.
_FIELD_NAMES = (
    ("fee_lines", "feedetail"),
    (".line_no", ".feedetl_sn"),
    (".item_code", ".med_list_codg"),
    (".quantity_e4", ".cnt_e4"),
    (".unit_price_fen", ".pric_fen"),
    (".amount_fen", ".det_item_fee_sumamt_fen"),
)


_WORD_NAMES = tuple(
    (re.compile(rf"\b{re.escape(ours.lstrip('.'))}\b"), national.lstrip("."))
    for ours, national in _FIELD_NAMES
)


def _as_feedetail_fields(exc: InvalidArgument) -> InvalidArgument:
    """The violations with the national names, in the path and in the description."""
    renamed = Violations()
    for violation in exc.violations:
        name, description = violation.field, violation.description
        for ours, national in _FIELD_NAMES:
            name = name.replace(ours, national)
        for word, national_word in _WORD_NAMES:
            description = word.sub(national_word, description)
        renamed.add(name, description)
    return InvalidArgument.of(renamed.items)


def check_cancel_selection(line_nos: Sequence[int], all_lines: bool) -> None:
    errors = Violations()
    if all_lines:
        errors.check(not line_nos, "feedetl_sn", "leave empty when all_lines is set")
    else:
        errors.check(
            0 < len(line_nos) <= MAX_LINES_PER_CANCEL,
            "feedetl_sn",
            f"1 to {MAX_LINES_PER_CANCEL} line numbers (or all_lines)",
        )
        errors.check(len(set(line_nos)) == len(line_nos), "feedetl_sn", "a line appears twice")
    errors.raise_if_any()


# --- the engine's inputs -------------------------------------------------------------


def account_balance_fen(person: PersonSnapshot, acc: Accumulations) -> int:
    """What is left of the year-opening personal-account balance."""
    if person.insutype is not Insutype.EMPLOYEE:
        return 0
    return max(0, person.acct_opening_balance_fen - acc.acct_paid_fen)


def settle_request(
    encounter: Encounter,
    lines: Sequence[FeeLine],
    acc: Accumulations,
    *,
    acct_opted_in: bool,
) -> SettleRequest:
    person = encounter.person
    return SettleRequest(
        person=PersonContext(
            insured_pool_code=person.insured_pool,
            insutype=person.insutype,
            person_type=person.person_type,
            sex=person.sex,
            age_years=person.age_years_on(encounter.begin_date),
            maf_category=person.maf_category,
        ),
        encounter=EncounterContext(
            treatment_pool_code=encounter.treatment_pool,
            visit_type=encounter.visit_type,
            hospital_level=encounter.hospital_level,
            treatment_date=encounter.begin_date,
            # Local-ratio bases (same pool, 北钦防) come with no reduction.
            ratio_reduction_bp=encounter.coverage.ratio_reduction_bp,
            chronic_disease=encounter.chronic_disease,
        ),
        fee_lines=tuple(lines),
        accumulations=acc,
        account=AccountContext(account_balance_fen(person, acc), acct_opted_in),
    )
