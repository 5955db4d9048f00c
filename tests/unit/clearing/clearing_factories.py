"""Builders and hypothesis strategies shared by the clearing unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from services.clearing.domain.events import EventKind, FundType, SettlementEvent
from services.clearing.domain.ledger import LedgerEntry, ledger_entries
from services.clearing.domain.periods import SHANGHAI, Period

JAN = Period(2025, 1)
FEB = Period(2025, 2)
NANNING, LIUZHOU, BEIHAI = "450100", "450200", "450500"
GUANGZHOU, SHENZHEN, FOSHAN = "440100", "440300", "440600"
POOLS = (NANNING, LIUZHOU, BEIHAI, GUANGZHOU, SHENZHEN, FOSHAN)
HOSPITAL_GZ = "H44010100001"
HOSPITAL_NN = "H45010100001"
PHARMACY_GZ = "P44010100001"
NAMES = {
    NANNING: "南宁",
    LIUZHOU: "柳州",
    BEIHAI: "北海",
    GUANGZHOU: "广州",
    SHENZHEN: "深圳",
    FOSHAN: "佛山",
    "45": "广西",
    "44": "广东",
}


def settle_time(day: int = 15, hour: int = 10, period: Period = JAN) -> datetime:
    return datetime(period.year, period.month, day, hour, tzinfo=SHANGHAI)


def make_event(
    setl_id: str,
    *,
    insured: str = NANNING,
    treatment: str = GUANGZHOU,
    kind: EventKind = EventKind.SETTLED,
    funds: dict[FundType, int] | None = None,
    cash_fen: int = 0,
    period: Period = JAN,
    hospital: str = HOSPITAL_GZ,
    reversed_setl_id: str | None = None,
    event_id: str | None = None,
    when: datetime | None = None,
) -> SettlementEvent:
    """A well-formed event; a reversal negates the given (positive) amounts."""
    sign = 1 if kind is EventKind.SETTLED else -1
    amounts = {f: sign * a for f, a in (funds or {FundType.HIFP: 10_000}).items()}
    cash = sign * cash_fen
    if kind is EventKind.REVERSED and reversed_setl_id is None:
        reversed_setl_id = f"orig-{setl_id}"
    return SettlementEvent(
        event_id=event_id or f"ev-{setl_id}",
        kind=kind,
        setl_id=setl_id,
        reversed_setl_id=reversed_setl_id,
        hospital_code=hospital,
        insured_pool=insured,
        treatment_pool=treatment,
        period=period,
        settle_time=when or settle_time(period=period),
        medfee_sumamt_fen=sum(amounts.values()) + cash,
        psn_cash_fen=cash,
        **{f"{fund.value}_fen": amount for fund, amount in amounts.items()},
    )


def entries_of(
    events: Iterable[SettlementEvent], closed: Sequence[Period] = ()
) -> list[LedgerEntry]:
    return [entry for event in events for entry in ledger_entries(event, closed)]


# One draw per amount, about a third of them zero: cheap to generate, still exercises
# funds that an event does not use.
_amount = st.integers(min_value=-2_500_000, max_value=5_000_000).map(lambda x: max(x, 0))
_minute_of_january = st.integers(min_value=0, max_value=30 * 24 * 60)


def _event_row(
    pools: Sequence[str], institutions: Sequence[str]
) -> st.SearchStrategy[tuple[object, ...]]:
    return st.tuples(
        st.sampled_from(pools),
        st.sampled_from(pools),
        st.sampled_from(EventKind),
        st.tuples(*(_amount for _ in FundType)),
        _amount,
        _minute_of_january,
        st.sampled_from(institutions),
    )


def event_lists(
    min_size: int = 0,
    max_size: int = 30,
    pools: Sequence[str] = POOLS,
    institutions: Sequence[str] = (HOSPITAL_GZ,),
) -> st.SearchStrategy[list[SettlementEvent]]:
    """Random settlements and reversals of January, local ones included, ids unique, at
    one of the institutions given."""
    rows = st.lists(_event_row(pools, institutions), min_size=min_size, max_size=max_size)
    return rows.map(_events_from_rows)


def _events_from_rows(rows: list[tuple[Any, ...]]) -> list[SettlementEvent]:
    return [
        make_event(
            f"S{index:05d}",
            insured=insured,
            treatment=treatment,
            kind=kind,
            funds=dict(zip(FundType, amounts, strict=True)),
            cash_fen=cash_fen,
            when=settle_time(day=1, hour=0) + timedelta(minutes=minute),
            hospital=hospital,
        )
        for index, (insured, treatment, kind, amounts, cash_fen, minute, hospital) in enumerate(
            rows
        )
    ]
