"""What each settlement use case is asked: one frozen dataclass of plain values per
transaction, built by the servicers from the request (never protobuf).

A write use case takes its command, the caller (``shared.auth.Caller``, which the servicer
reads once from the request context), the msgid's key and how its result is stored as the
msgid's answer; a read takes its query and the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from services.settlement.domain.bill import FeeLine
from services.settlement.domain.codes import ChronicDisease, Insutype, VisitType
from services.settlement.domain.inputs import Header
from shared.identity import DocumentType
from shared.reference import InstitutionKind

T = TypeVar("T")
K = TypeVar("K")

# --- writes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenEncounter:
    """2201 register an outpatient visit, 2401 admit an inpatient."""

    header: Header
    psn_no: str
    insutype: Insutype
    visit_type: VisitType
    chronic_disease: ChronicDisease | None
    begin_date: date
    visit_no: str
    diag_code: str
    emergency: bool


@dataclass(frozen=True)
class OnEncounter:
    """A request about one of the hospital's encounters and its patient; as such, 2202
    cancel a registration, 2404 cancel an admission, 2405 cancel a discharge."""

    header: Header
    mdtrt_id: str
    psn_no: str


@dataclass(frozen=True)
class UploadFeeLines(OnEncounter):
    """2204/2301."""

    lines: tuple[FeeLine, ...]


@dataclass(frozen=True)
class CancelFeeLines(OnEncounter):
    """2205/2302: the lines numbered ``line_nos``, or every standing line."""

    line_nos: tuple[int, ...]
    all_lines: bool


@dataclass(frozen=True)
class ChangeAdmission(OnEncounter):
    """2403: None or empty leaves the field as it is."""

    begin_date: date | None
    diag_code: str
    dept_code: str


@dataclass(frozen=True)
class PreSettle(OnEncounter):
    """2206/2303."""

    acct_opted_in: bool


@dataclass(frozen=True)
class Settle(OnEncounter):
    """2207/2304: ``medfee_sumamt_fen`` is the hospital's total of the standing lines."""

    acct_opted_in: bool
    medfee_sumamt_fen: int


@dataclass(frozen=True)
class Discharge(OnEncounter):
    """2402."""

    discharge_date: date
    diag_code: str


@dataclass(frozen=True)
class OnSettlement:
    """A request about one of the institution's settlements (mdtrt_id and psn_no, when
    given, must be its encounter's and patient's); as such, 5203."""

    header: Header
    setl_id: str
    mdtrt_id: str
    psn_no: str


@dataclass(frozen=True)
class Reverse(OnSettlement):
    """2208/2305 for a hospital, 2103 for a pharmacy (which may leave mdtrt_id empty)."""

    kind: InstitutionKind


@dataclass(frozen=True)
class Correct:
    """2601: undo the msgid ``omsgid`` (a transaction ``oinfno``), or refuse it to come."""

    header: Header
    psn_no: str
    omsgid: str
    oinfno: str


@dataclass(frozen=True)
class Purchase:
    """A 2101/2102 purchase as read: who buys what, under which med_type."""

    psn_no: str
    insutype: Insutype
    visit_type: VisitType  # PHARMACY_PURCHASE (41) or CHRONIC_OUTPATIENT (14)
    chronic_disease: ChronicDisease | None
    acct_opted_in: bool
    lines: tuple[FeeLine, ...]


@dataclass(frozen=True)
class PreSettlePurchase:
    """2101."""

    header: Header
    purchase: Purchase


@dataclass(frozen=True)
class SettlePurchase(PreSettlePurchase):
    """2102: ``medfee_sumamt_fen`` is the pharmacy's total of the drug lines."""

    medfee_sumamt_fen: int


# --- reads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryPerson:
    """1101/2001: who the document names, and whether the visit would be covered today."""

    header: Header
    document_type: DocumentType
    document_number: str
    visit_type: VisitType
    emergency: bool


@dataclass(frozen=True)
class AboutPerson:
    """A read about one person the hospital treats: 5206 as such."""

    header: Header
    psn_no: str


@dataclass(frozen=True)
class PersonPage(AboutPerson, Generic[K]):
    """One page of at most ``limit`` of the person's rows after the key ``after`` (None:
    the first page), optionally between two days; 5201 as such, its key an mdtrt_id."""

    begin: date | None
    end: date | None
    after: K | None
    limit: int


@dataclass(frozen=True)
class QueryFeeLines(OnEncounter):
    """5204: one page of an encounter's standing fee lines."""

    after_line_no: int
    limit: int


@dataclass(frozen=True)
class DrugRecordsAfter:
    """Where a page of 5205 starts: after this (fee date, mdtrt_id, line no)."""

    fee_date: date
    mdtrt_id: str
    line_no: int


@dataclass(frozen=True)
class QueryChronicDrugs(PersonPage[DrugRecordsAfter]):
    """5205: the person's chronic-disease drug records, of one disease when given."""

    disease: str | None


@dataclass(frozen=True)
class Reconcile(Generic[T]):
    """3201 (``theirs`` the institution's totals) and 3202 (its settlement records) over
    the days ``begin`` to ``end``."""

    header: Header
    begin: date
    end: date
    theirs: T
