"""Settlement events as the clearing core receives them, and the fund types it clears.

A settlement moves fund money from the insured pool to the treatment side's hospital; the
treatment-side agency advances it, and the insured pool owes it back through clearing.
Every fund amount is cleared, the personal account included (it is the insured pool's
money). The patient's cash is not: the patient paid it to the hospital directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.clearing.domain.limits import MAX_EVENT_AMOUNT_FEN, MAX_ID_CHARS
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import check_hospital_code, check_pool_code
from shared.errors import InvalidArgument, Violations

# The fund table, the insurance types and the national fund codes are the shared
# vocabulary's: one definition for every service.
from shared.vocabulary import FUND_ORDER as FUND_ORDER
from shared.vocabulary import FundType as FundType
from shared.vocabulary import Insutype as Insutype
from shared.vocabulary import NationalFundCode as NationalFundCode


class EventKind(StrEnum):
    SETTLED = "SETTLED"
    REVERSED = "REVERSED"


@dataclass(frozen=True)
class SettlementEvent:
    """One settlement or reversal; a reversal carries its settlement's amounts, negated.

    Construction validates every field, so an event that exists is well formed.
    """

    event_id: str
    kind: EventKind
    setl_id: str
    reversed_setl_id: str | None
    hospital_code: str
    insured_pool: str
    treatment_pool: str
    period: Period
    settle_time: datetime
    medfee_sumamt_fen: int
    hifp_fen: int = 0
    hifob_fen: int = 0
    hifmi_fen: int = 0
    cvlserv_fen: int = 0
    maf_fen: int = 0
    acct_fen: int = 0
    psn_cash_fen: int = 0

    def __post_init__(self) -> None:
        _check_identity(self)
        _check_amounts(self)

    def fund_amounts(self) -> dict[FundType, int]:
        """Every cleared amount by fund, zeros included, in the fixed fund order."""
        # Each fund's amount is the field named after it (``<fund>_fen``).
        return {fund: int(getattr(self, f"{fund.value}_fen")) for fund in FUND_ORDER}

    def cleared_fen(self) -> int:
        return sum(self.fund_amounts().values())


def _check_identity(event: SettlementEvent) -> None:
    violations = Violations()
    for name, value in (("event_id", event.event_id), ("setl_id", event.setl_id)):
        violations.check(_is_id(value), name, f"1..{MAX_ID_CHARS} printable ASCII characters")
    reversal = event.kind is EventKind.REVERSED
    has_reversed = event.reversed_setl_id is not None
    violations.check(
        reversal == has_reversed, "reversed_setl_id", "required for a reversal, absent otherwise"
    )
    if event.reversed_setl_id is not None:
        violations.check(
            _is_id(event.reversed_setl_id), "reversed_setl_id", "not a valid settlement id"
        )
    tz_aware = event.settle_time.tzinfo is not None and event.settle_time.utcoffset() is not None
    violations.check(tz_aware, "settle_time", "must carry a time zone")
    violations.raise_if_any()
    check_hospital_code(event.hospital_code)
    check_pool_code(event.insured_pool, "insured_pool")
    check_pool_code(event.treatment_pool, "treatment_pool")


def _check_amounts(event: SettlementEvent) -> None:
    """Settlements carry amounts ≥ 0, reversals ≤ 0; the parts sum to the bill total."""
    sign = 1 if event.kind is EventKind.SETTLED else -1
    violations = Violations()
    named = {f"{fund}_fen": amount for fund, amount in event.fund_amounts().items()}
    named["psn_cash_fen"] = event.psn_cash_fen
    named["medfee_sumamt_fen"] = event.medfee_sumamt_fen
    for name, amount in named.items():
        violations.check(
            0 <= sign * amount <= MAX_EVENT_AMOUNT_FEN,
            name,
            f"must be {'≥' if sign > 0 else '≤'} 0 and at most {MAX_EVENT_AMOUNT_FEN} fen",
        )
    violations.raise_if_any()
    parts_fen = event.cleared_fen() + event.psn_cash_fen
    if parts_fen != event.medfee_sumamt_fen:
        raise InvalidArgument(
            "medfee_sumamt_fen",
            f"{event.medfee_sumamt_fen} differs from funds + account + cash = {parts_fen}",
        )


def _is_id(value: str) -> bool:
    return 1 <= len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable()
