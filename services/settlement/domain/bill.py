"""Fee lines of a bill, their limits and their validation.

A hospital uploads a bill as fee lines (费用明细). Quantities come with up to four decimals
(a half tablet, 0.25 of a vial), so they travel as ten-thousandths (``quantity_e4``);
the line amount is the unit price times the quantity rounded half-up to a fen, and we
insist the hospital sent exactly that, so both sides agree on every fen before any split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from shared.errors import Violations
from shared.money import round_half_up

QUANTITY_SCALE_E4 = 10_000  # quantity_e4 per whole unit
MAX_LINES_PER_BILL = 2_000
MAX_QUANTITY_E4 = 10_000 * QUANTITY_SCALE_E4  # 10,000 units of one item on one line
# Dearest single item in any catalogue (implants, a course of a negotiated cancer drug)
# stays well below 1 million yuan; anything above is a keying error.
MAX_UNIT_PRICE_FEN = 100_000_000
MAX_LINE_AMOUNT_FEN = 500_000_000  # 5 million yuan
MAX_BILL_AMOUNT_FEN = 2_000_000_000  # 20 million yuan: above any real inpatient stay
MAX_LINE_NO = 999_999
MAX_ITEM_CODE_CHARS = 50
ITEM_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")


@dataclass(frozen=True)
class FeeLine:
    """One fee-detail line as the hospital uploaded it."""

    line_no: int
    item_code: str
    fee_date: date
    quantity_e4: int
    unit_price_fen: int
    amount_fen: int


def line_amount_fen(unit_price_fen: int, quantity_e4: int) -> int:
    """The amount a line must carry: price × quantity, rounded half-up to a fen."""
    return round_half_up(unit_price_fen * quantity_e4, QUANTITY_SCALE_E4)


def validate_fee_lines(lines: Sequence[FeeLine]) -> None:
    """Raise InvalidArgument naming every bad field (``fee_lines[i].…``) at once."""
    errors = Violations()
    errors.check(0 < len(lines) <= MAX_LINES_PER_BILL, "fee_lines", _count_message(len(lines)))
    if len(lines) > MAX_LINES_PER_BILL:
        errors.raise_if_any()  # do not walk an oversized list
    seen_line_nos: set[int] = set()
    for index, line in enumerate(lines):
        _check_line(errors, f"fee_lines[{index}]", line)
        errors.check(
            line.line_no not in seen_line_nos,
            f"fee_lines[{index}].line_no",
            f"line_no {line.line_no} appears twice in the bill",
        )
        seen_line_nos.add(line.line_no)
    total_fen = sum(line.amount_fen for line in lines)
    errors.check(
        total_fen <= MAX_BILL_AMOUNT_FEN,
        "fee_lines",
        f"bill total {total_fen} fen exceeds the limit of {MAX_BILL_AMOUNT_FEN} fen",
    )
    errors.raise_if_any()


def _count_message(count: int) -> str:
    return f"a bill needs 1 to {MAX_LINES_PER_BILL} fee lines, got {count}"


def _check_line(errors: Violations, prefix: str, line: FeeLine) -> None:
    errors.check(1 <= line.line_no <= MAX_LINE_NO, f"{prefix}.line_no", f"must be 1..{MAX_LINE_NO}")
    errors.check(
        bool(ITEM_CODE_PATTERN.match(line.item_code)),
        f"{prefix}.item_code",
        f"must be 1..{MAX_ITEM_CODE_CHARS} letters, digits, '.', '_' or '-'",
    )
    quantity_ok = 1 <= line.quantity_e4 <= MAX_QUANTITY_E4
    price_ok = 1 <= line.unit_price_fen <= MAX_UNIT_PRICE_FEN
    errors.check(quantity_ok, f"{prefix}.quantity_e4", f"must be 1..{MAX_QUANTITY_E4}")
    errors.check(price_ok, f"{prefix}.unit_price_fen", f"must be 1..{MAX_UNIT_PRICE_FEN}")
    errors.check(
        1 <= line.amount_fen <= MAX_LINE_AMOUNT_FEN,
        f"{prefix}.amount_fen",
        f"must be 1..{MAX_LINE_AMOUNT_FEN}",
    )
    if quantity_ok and price_ok:
        expected_fen = line_amount_fen(line.unit_price_fen, line.quantity_e4)
        if line.amount_fen != expected_fen and _quantity_sent_in_units(line):
            # The amount agrees with the quantity read as whole units: the quantity field,
            # not the amount, is what the sender got wrong.
            errors.add(
                f"{prefix}.quantity_e4",
                f"quantity_e4 is the quantity × 10000 (2 boxes = 20000); "
                f"{line.quantity_e4} looks like a count of whole units",
            )
            return
        errors.check(
            line.amount_fen == expected_fen,
            f"{prefix}.amount_fen",
            f"must equal unit_price_fen × quantity_e4 / 10000 rounded half-up = {expected_fen}",
        )


def _quantity_sent_in_units(line: FeeLine) -> bool:
    as_units_e4 = line.quantity_e4 * QUANTITY_SCALE_E4
    return as_units_e4 <= MAX_QUANTITY_E4 and line.amount_fen == line_amount_fen(
        line.unit_price_fen, as_units_e4
    )
