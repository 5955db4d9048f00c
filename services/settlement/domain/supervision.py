"""Pre-settlement supervision (事前提醒): warnings about a bill, never a refusal.

Warnings go back with the pre-settlement and are recorded for post-audit (事后审核). They
are judged with the treatment place's catalogue (就医地管理). A breached restriction
also makes the line fully self-paid in the split (see the catalogue); a quantity over
the item's limit does not — post-audit decides about the excess.

"Already admitted elsewhere" needs the encounter store, so the service layer raises it
with :data:`ADMITTED_ELSEWHERE`; the rules here see one bill only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .bill import MAX_LINES_PER_BILL, QUANTITY_SCALE_E4, FeeLine
from .catalogue import Breach, Catalogue, CatalogueItem, UseContext, restriction_breaches
from .engine import SettleRequest, use_context

DUPLICATE_FEE_LINE = "DUPLICATE_FEE_LINE"
QUANTITY_OVER_LIMIT = "QUANTITY_OVER_LIMIT"
ADMITTED_ELSEWHERE = "ADMITTED_ELSEWHERE"
RESTRICTION_INPATIENT_ONLY = Breach.INPATIENT_ONLY.value
RESTRICTION_SEX = Breach.SEX.value
RESTRICTION_AGE = Breach.AGE.value
RESTRICTION_CHRONIC_DISEASE = Breach.CHRONIC_DISEASE.value
ALL_CODES = (
    DUPLICATE_FEE_LINE,
    QUANTITY_OVER_LIMIT,
    ADMITTED_ELSEWHERE,
    RESTRICTION_INPATIENT_ONLY,
    RESTRICTION_SEX,
    RESTRICTION_AGE,
    RESTRICTION_CHRONIC_DISEASE,
)
# One duplicate, one quantity and every restriction per line: a bound on the output.
MAX_WARNINGS = MAX_LINES_PER_BILL * (2 + len(Breach))

_BREACH_MESSAGES = {
    Breach.INPATIENT_ONLY: "is paid by the fund for inpatients only",
    Breach.SEX: "is restricted to the other sex",
    Breach.AGE: "is restricted to another age range",
    Breach.CHRONIC_DISEASE: "is paid in outpatient care only for other chronic/special diseases",
}


@dataclass(frozen=True)
class SupervisionWarning:
    code: str  # stable, upper-snake
    line_no: int  # 0 when the warning is about the whole encounter
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "line_no": self.line_no, "message": self.message}


def supervise(
    catalogue: Catalogue, lines: Sequence[FeeLine], use: UseContext
) -> tuple[SupervisionWarning, ...]:
    """Warnings for one validated bill, in line order; unknown item codes are skipped
    (settlement rejects them with a field error)."""
    assert len(lines) <= MAX_LINES_PER_BILL
    warnings: list[SupervisionWarning] = []
    first_line_no: dict[tuple[str, date, int, int], int] = {}
    quantity_e4: dict[str, int] = {}
    for line in lines:
        item = catalogue.lookup(line.item_code)
        warnings += _duplicate(line, first_line_no)
        if item is None:
            continue
        warnings += _restrictions(line, item, use)
        warnings += _quantity(line, item, quantity_e4)
    assert len(warnings) <= MAX_WARNINGS
    return tuple(warnings)


def supervise_request(
    request: SettleRequest, catalogue: Catalogue
) -> tuple[SupervisionWarning, ...]:
    """:func:`supervise` for the bill of a settlement request."""
    return supervise(catalogue, request.fee_lines, use_context(request))


def admitted_elsewhere(other_hospital_code: str, admitted_on: date) -> SupervisionWarning:
    return SupervisionWarning(
        ADMITTED_ELSEWHERE,
        0,
        f"the patient has an open admission at {other_hospital_code} since {admitted_on}",
    )


def _duplicate(
    line: FeeLine, first_line_no: dict[tuple[str, date, int, int], int]
) -> list[SupervisionWarning]:
    key = (line.item_code, line.fee_date, line.quantity_e4, line.unit_price_fen)
    first = first_line_no.setdefault(key, line.line_no)
    if first == line.line_no:
        return []
    message = (
        f"line {line.line_no} repeats line {first}: same item {line.item_code}, "
        f"date {line.fee_date}, quantity and price"
    )
    return [SupervisionWarning(DUPLICATE_FEE_LINE, line.line_no, message)]


def _restrictions(line: FeeLine, item: CatalogueItem, use: UseContext) -> list[SupervisionWarning]:
    return [
        SupervisionWarning(
            breach.value,
            line.line_no,
            f"{item.code} {item.name_zh} {_BREACH_MESSAGES[breach]}; the line is self-paid",
        )
        for breach in restriction_breaches(item, use)
    ]


def _quantity(
    line: FeeLine, item: CatalogueItem, quantity_e4: dict[str, int]
) -> list[SupervisionWarning]:
    """Warns once per item, on the line where the bill's running total passes the limit."""
    limit_e4 = item.restrictions.max_quantity_e4_per_bill
    before_e4 = quantity_e4.get(item.code, 0)
    after_e4 = before_e4 + line.quantity_e4
    quantity_e4[item.code] = after_e4
    if limit_e4 is None or after_e4 <= limit_e4 or before_e4 > limit_e4:
        return []
    message = (
        f"{item.code} {item.name_zh}: {_units(after_e4)} {item.unit} on this bill,"
        f" limit {_units(limit_e4)}"
    )
    return [SupervisionWarning(QUANTITY_OVER_LIMIT, line.line_no, message)]


def _units(quantity_e4: int) -> str:
    whole, fraction = divmod(quantity_e4, QUANTITY_SCALE_E4)
    return f"{whole}" if fraction == 0 else f"{whole}.{fraction:04d}".rstrip("0")
