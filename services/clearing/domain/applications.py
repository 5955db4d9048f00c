"""Matching a hospital's monthly clearing application (3203) against the ledger.

The hospital lists, for a month (setlym), each cross-region settlement and reversal with
the amount it expects: every cleared fund amount, the personal account included, cash
excluded. A reversal is listed under its own settlement id with a negative amount.

The month is the one the settlement service assigned (the event period), since that is
what the hospital saw; which clearing period a late item landed in is clearing's concern.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.clearing.domain.ledger import LedgerEntry
from services.clearing.domain.limits import (
    MAX_APPLICATION_ITEMS,
    MAX_ENTRIES_PER_RUN,
    MAX_ID_CHARS,
    check_count,
)
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import check_hospital_code
from shared.errors import InvalidArgument


@dataclass(frozen=True)
class ApplicationItem:
    setl_id: str
    fund_amount_fen: int


@dataclass(frozen=True)
class ClearingApplication:
    hospital_code: str
    period: Period
    items: tuple[ApplicationItem, ...]

    def __post_init__(self) -> None:
        check_hospital_code(self.hospital_code)
        check_count("application items", len(self.items), MAX_APPLICATION_ITEMS)
        ids = [item.setl_id for item in self.items]
        if not all(1 <= len(i) <= MAX_ID_CHARS for i in ids):
            raise InvalidArgument("items.setl_id", f"1..{MAX_ID_CHARS} characters")
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise InvalidArgument("items.setl_id", f"listed more than once: {duplicates[:10]}")


class DifferenceKind(StrEnum):
    MISSING_IN_LEDGER = "MISSING_IN_LEDGER"  # the hospital claims it; clearing has no record
    MISSING_IN_APPLICATION = "MISSING_IN_APPLICATION"  # clearing has it; the hospital left it out
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"


@dataclass(frozen=True)
class ApplicationDifference:
    setl_id: str
    kind: DifferenceKind
    application_fen: int | None
    ledger_fen: int | None


def match_application(
    application: ClearingApplication, entries: Iterable[LedgerEntry]
) -> tuple[ApplicationDifference, ...]:
    """Differences per settlement id, sorted by it; empty when the two agree exactly.

    Entries of other hospitals or months are ignored, so the caller may pass a superset.
    """
    return match_application_amounts(application, _ledger_amounts(application, entries))


def match_application_amounts(
    application: ClearingApplication, ledger_fen: Mapping[str, int]
) -> tuple[ApplicationDifference, ...]:
    """match_application on the ledger already summed: the hospital's cleared amount per
    settlement id for the application's month (what the store sums in SQL)."""
    check_count("settlements in the ledger", len(ledger_fen), MAX_APPLICATION_ITEMS)
    applied_fen = {item.setl_id: item.fund_amount_fen for item in application.items}
    differences = [
        difference
        for setl_id in sorted(ledger_fen.keys() | applied_fen.keys())
        if (difference := _compare(setl_id, applied_fen.get(setl_id), ledger_fen.get(setl_id)))
    ]
    return tuple(differences)


def _ledger_amounts(
    application: ClearingApplication, entries: Iterable[LedgerEntry]
) -> dict[str, int]:
    amounts_fen: dict[str, int] = defaultdict(int)
    for count, entry in enumerate(entries, start=1):
        check_count("ledger entries", count, MAX_ENTRIES_PER_RUN)
        mine = entry.hospital_code == application.hospital_code
        if mine and entry.event_period == application.period:
            amounts_fen[entry.setl_id] += entry.amount_fen
    return amounts_fen


def _compare(
    setl_id: str, application_fen: int | None, ledger_fen: int | None
) -> ApplicationDifference | None:
    # A settlement that clears nothing (all cash; or a settlement and its reversal under
    # one id) is owed by nobody: listing it or leaving it out makes no difference.
    if (application_fen or 0) == 0 and (ledger_fen or 0) == 0:
        return None
    if ledger_fen is None:
        kind = DifferenceKind.MISSING_IN_LEDGER
    elif application_fen is None:
        kind = DifferenceKind.MISSING_IN_APPLICATION
    elif application_fen != ledger_fen:
        kind = DifferenceKind.AMOUNT_MISMATCH
    else:
        return None
    return ApplicationDifference(setl_id, kind, application_fen, ledger_fen)
