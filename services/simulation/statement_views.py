"""The clearing service's statements as the simulation reads them: every statement of a
period, page by page, as ``StatementView``s, and their states refreshed after confirmation
and disputes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from services.simulation.clients import Clients
from services.simulation.tally import (
    MonthEnd,
    StatementView,
)
from shared.pb.crossclear.clearing.v1 import clearing_pb2
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.events.v1 import events_pb2
from shared.records import record_from

OPERATOR = "op-simulator"
NATIONAL_CENTRE = "NHSA"
PAGE_SIZE = 500
MAX_PAGES = 10_000  # a listing stops there


def enum_name(enum: object, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)  # type: ignore[attr-defined]


def fund_name(value: int) -> str:
    """A statement's fund_type by the tally's name for it (``FUND_TYPE_HIFP`` is "hifp"):
    the proto's enum names every fund, so a new one needs no entry here."""
    try:
        return enum_name(common_pb2.FundType, value, "FUND_TYPE_").lower()
    except ValueError:
        return f"fund{value}"


async def every_page(
    fetch: Callable[[common_pb2.PageRequest], Awaitable[Any]],
) -> AsyncIterator[Any]:
    """Each reply of a paged listing, first page first, until the service returns no next
    page token (at most MAX_PAGES pages of PAGE_SIZE)."""
    token = ""
    for _page in range(MAX_PAGES):
        reply = await fetch(common_pb2.PageRequest(page_size=PAGE_SIZE, page_token=token))
        yield reply
        token = str(reply.next_page_token)
        if not token:
            return


async def list_statements(clients: Clients, period: str) -> list[StatementView]:
    views: list[StatementView] = []
    async for reply in every_page(
        lambda page: clients.call(
            clients.clearing.ListStatements,
            clearing_pb2.ListStatementsRequest(period=period, page=page),
            OPERATOR,
        )
    ):
        views.extend(statement_view(s) for s in reply.statements)
    return views


def statement_view(s: clearing_pb2.Statement) -> StatementView:
    funds = {
        fund_name(f.fund_type): (
            f.settled_count,
            f.settled_fen,
            f.reversed_count,
            f.reversed_fen,
            f.net_fen,
        )
        for f in s.funds
    }
    return record_from(
        StatementView,
        s,
        getattr,
        level=enum_name(events_pb2.ClearingLevel, s.level, "CLEARING_LEVEL_"),
        state=enum_name(clearing_pb2.StatementState, s.state, "STATEMENT_STATE_"),
        adjustment_fen=sum(f.adjustment_fen for f in s.funds),
        funds=funds,
    )


async def refresh_states(clients: Clients, result: MonthEnd) -> None:
    """Statements after confirmation and disputes: their state and what was netted (the
    generated figures, and so the fingerprint, do not change)."""
    fresh: dict[str, StatementView] = {}
    for period in result.periods:
        for view in await list_statements(clients, period):
            fresh[view.statement_id] = view
    result.statements = [
        replace(
            v,
            state=fresh[v.statement_id].state,
            confirmed_net_fen=fresh[v.statement_id].confirmed_net_fen,
            disputed_line_count=fresh[v.statement_id].disputed_line_count,
            disputed_fen=fresh[v.statement_id].disputed_fen,
        )
        if v.statement_id in fresh
        else v
        for v in result.statements
    ]
