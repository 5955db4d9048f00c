"""Request readers: protobuf fields to domain values, naming every bad field at once;
and the paging of the queries."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

from services.settlement import national_codes as codes
from services.settlement.domain.bill import FeeLine
from services.settlement.domain.catalogue import ItemClass
from services.settlement.domain.codes import AssistanceCategory, FundType
from services.settlement.domain.encounter import (
    MAX_LINES_PER_UPLOAD,
    EncounterState,
)
from services.settlement.domain.inputs import (
    ICD10_PATTERN,
    VISIT_NO_PATTERN,
    read_day,
)
from services.settlement.domain.reconcile import (
    Record,
    check_range,
)
from services.settlement.handlers.commands import DrugRecordsAfter
from shared import pb_enums, vocabulary
from shared.errors import InvalidArgument, Violations
from shared.identity import DocumentType, document_type_of_eighteen
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

OINFNO_CHARS: Final = 4
CERT_NO_CHARS_MAX: Final = 64
DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
MAX_PAGE_TOKEN_CHARS: Final = 200

ITEM_CLASSES = {
    ItemClass.A: pb.ITEM_CLASS_A,
    ItemClass.B: pb.ITEM_CLASS_B,
    ItemClass.C: pb.ITEM_CLASS_C,
}
ENCOUNTER_STATES = {
    EncounterState.OPEN: pb.ENCOUNTER_STATE_OPEN,
    EncounterState.SETTLED: pb.ENCOUNTER_STATE_SETTLED,
    EncounterState.CANCELLED: pb.ENCOUNTER_STATE_CANCELLED,
}


def fund_type_number(fund: FundType) -> common_pb2.FundType.ValueType:
    """A fund as the protos number it."""
    number: common_pb2.FundType.ValueType = pb_enums.FUND_TYPE.number(fund)
    return number


def assistance_category_number(
    maf: AssistanceCategory | None,
) -> common_pb2.AssistanceCategory.ValueType:
    """A person's assistance category as the protos number it; None is ``NONE``."""
    category = AssistanceCategory.NONE if maf is None else maf
    number: common_pb2.AssistanceCategory.ValueType = pb_enums.ASSISTANCE_CATEGORY.number(category)
    return number


# --- request readers ---------------------------------------------------------------------


def document_type_of(cert_type: int | None, number: str, errors: Violations) -> DocumentType | None:
    """The identity document behind a national medical certificate (mdtrt_cert_type)."""
    if cert_type is None:  # already reported by the reader
        return None
    if len(number) > CERT_NO_CHARS_MAX or not number.strip():
        errors.add("mdtrt_cert_no", f"1..{CERT_NO_CHARS_MAX} characters")
        return None
    if cert_type == pb.CERT_TYPE_E_VOUCHER:
        return DocumentType.E_VOUCHER
    if cert_type not in (pb.CERT_TYPE_RESIDENT_ID, pb.CERT_TYPE_SOCIAL_SECURITY_CARD):
        errors.add("mdtrt_cert_type", "01 e-voucher, 02 resident ID or 03 social-security card")
        return None
    # A social-security card's number is its holder's citizen ID number (社会保障号码).
    text = number.strip().upper()
    if text[:1] in ("H", "M"):
        return DocumentType.HK_MO_HOME_RETURN_PERMIT
    if len(text) == 18:
        return document_type_of_eighteen(text)
    return DocumentType.RESIDENT_ID


def check_cert(value: int, code: str, number: str, errors: Violations) -> None:
    """The certificate a registration was made with: recorded by the HIS, optional here."""
    cert_type = codes.read_cert_type(value, code, errors)
    if cert_type == pb.CERT_TYPE_UNSPECIFIED and not number:
        return
    document_type_of(cert_type, number, errors)


def check_visit_no(value: str, name: str, errors: Violations) -> None:
    errors.check(
        bool(VISIT_NO_PATTERN.match(value)), name, "1..30 letters, digits, '.', '_' or '-'"
    )


def _check_icd10(value: str, name: str, errors: Violations) -> None:
    if value:
        errors.check(bool(ICD10_PATTERN.match(value)), name, "an ICD-10 code, e.g. C34.900")


def check_line_count(
    count: int, field: str, errors: Violations, *, carrier: str, lines: str = "lines"
) -> None:
    """An upload's or a purchase's lines: 1 to ``MAX_LINES_PER_UPLOAD`` of them."""
    errors.check(
        0 < count <= MAX_LINES_PER_UPLOAD,
        field,
        f"{carrier} carries 1 to {MAX_LINES_PER_UPLOAD} {lines}, got {count}",
    )


def read_fee_lines(details: Sequence[pb.FeeDetail], errors: Violations) -> list[FeeLine]:
    lines = []
    for index, d in enumerate(details):
        fee_date = read_day(d.fee_ocur_time, f"feedetail[{index}].fee_ocur_time", errors)
        lines.append(
            FeeLine(
                line_no=d.feedetl_sn,
                item_code=d.med_list_codg,
                fee_date=fee_date or date.min,
                quantity_e4=d.cnt_e4,
                unit_price_fen=d.pric_fen,
                amount_fen=d.det_item_fee_sumamt_fen,
            )
        )
    return lines


def read_days(begndate: str, enddate: str, errors: Violations) -> tuple[date | None, date | None]:
    """A query's optional days from ``begndate`` to ``enddate`` (each may be empty)."""
    begin = read_day(begndate, "begndate", errors) if begndate else None
    end = read_day(enddate, "enddate", errors) if enddate else None
    if begin is not None and end is not None:
        errors.check(begin <= end, "enddate", "not before begndate")
    return begin, end


def check_total(total_fen: int, of: str, errors: Violations) -> None:
    """A settlement's ``medfee_sumamt_fen``: the institution's own total of ``of``."""
    errors.check(total_fen > 0, "medfee_sumamt_fen", f"the total of {of}, in fen (> 0)")


def read_range(begin: str, end: str, errors: Violations) -> tuple[date | None, date | None]:
    begin_date = read_day(begin, "stmt_begndate", errors)
    end_date = read_day(end, "stmt_enddate", errors)
    check_range(begin_date, end_date, errors)
    return begin_date, end_date


def record_of_pb(r: pb.SettlementRecord) -> Record:
    return Record(
        r.setl_id,
        r.mdtrt_id,
        r.psn_no,
        r.medfee_sumamt_fen,
        r.fund_pay_sumamt_fen,
        r.acct_pay_fen,
        r.refd_setl_flag,
    )


# --- queries: paging and answers ---------------------------------------------------------


def page_size_of(page: common_pb2.PageRequest) -> int:
    if page.page_size < 0:
        raise InvalidArgument("page.page_size", "must not be negative")
    return min(page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _token_of(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def page_after(page: common_pb2.PageRequest) -> Any:
    """The key a page starts after, from the opaque token of the previous page."""
    token = page.page_token
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        raise InvalidArgument("page.page_token", "not a token this service issued")
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        raise InvalidArgument("page.page_token", "not a token this service issued") from None


def next_token(rows: Sequence[Any], limit: int, key: Any) -> str:
    return _token_of(key) if len(rows) == limit else ""


def text_key(after: Any) -> str | None:
    if after is not None and not isinstance(after, str):
        raise InvalidArgument("page.page_token", "not a token this service issued")
    return after


def int_key(after: Any) -> int:
    if after is None:
        return 0
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise InvalidArgument("page.page_token", "not a token this service issued")
    return after


def drug_records_token(after: DrugRecordsAfter | None) -> str:
    """The page token of 5205's next page ("" after the last page)."""
    if after is None:
        return ""
    return _token_of([after.fee_date.isoformat(), after.mdtrt_id, after.line_no])


def drug_records_after(token: str, errors: Violations) -> DrugRecordsAfter | None:
    """Where 5205's page starts, from the token of the previous page (a bad token is in
    ``errors``, with the request's other bad fields)."""
    if not token:
        return None
    bad = "not a token this service issued"
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        errors.add("page.page_token", bad)
        return None
    try:
        day, mdtrt_id, line_no = json.loads(base64.urlsafe_b64decode(token.encode()))
        return DrugRecordsAfter(
            vocabulary.parse_national_date(day, "page.page_token"), str(mdtrt_id), int(line_no)
        )
    except (binascii.Error, ValueError, TypeError, InvalidArgument):
        errors.add("page.page_token", bad)
        return None
