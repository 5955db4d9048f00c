"""The advance funds the operator sets before any traffic: for every cross-pool pair of the
plan, a **modeled** size from the plan's average monthly bills of the pair."""

from __future__ import annotations

from collections import defaultdict

import grpc

from services.simulation.clients import Clients
from services.simulation.scenario import Plan
from services.simulation.statement_views import OPERATOR
from services.simulation.tally import (
    Tally,
)
from shared.grpc_errors import reason_of
from shared.pb.crossclear.clearing.v1 import clearing_pb2

# Modeled: two months of the pair's expected fund payments; one pair in five is left at
# one month (not yet topped up), so the 70 % and 90 % alerts show.
ADVANCE_MONTHS = 2
ADVANCE_SHORT_EVERY = 5
EXPECTED_FUND_SHARE_PCT = 65


def planned_advances(plan: Plan) -> list[tuple[str, str, int]]:
    """(insured pool, treatment pool, advance fen) for every cross-pool pair in the plan,
    sized from the plan's average monthly bills of the pair."""
    billed: dict[tuple[str, str], int] = defaultdict(int)
    for p in plan.persons:
        for e in p.encounters:
            if e.treatment_pool != p.insured_pool:
                billed[(p.insured_pool, e.treatment_pool)] += e.amount_fen
    out = []
    months = len(plan.months)
    for rank, (pair, amount) in enumerate(sorted(billed.items(), key=lambda kv: (-kv[1], kv[0]))):
        cover = 1 if rank % ADVANCE_SHORT_EVERY == ADVANCE_SHORT_EVERY - 1 else ADVANCE_MONTHS
        expected = amount * EXPECTED_FUND_SHARE_PCT // 100 // months
        advance = max(100_000, (expected * cover // 100_000 + 1) * 100_000)  # whole 1,000 yuan
        out.append((pair[0], pair[1], advance))
    return out


async def set_advance_funds(clients: Clients, plan: Plan, tally: Tally) -> None:
    for insured, treatment, amount in planned_advances(plan):
        try:
            await clients.call(
                clients.clearing.SetAdvanceFund,
                clearing_pb2.SetAdvanceFundRequest(
                    insured_pool=insured,
                    treatment_pool=treatment,
                    amount_fen=amount,
                    note="simulation: modeled at two months of expected fund payments",
                ),
                OPERATOR,
            )
            tally.counts["advance funds set"] += 1
        except grpc.aio.AioRpcError as error:
            tally.error(
                f"SetAdvanceFund {error.code().name} {reason_of(error) or ''}",
                error.details() or "",
            )
