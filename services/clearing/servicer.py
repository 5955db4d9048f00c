"""ClearingService over gRPC: protobuf ⇄ domain values, nothing more.

Each RPC parses its request into domain values (malformed fields raise InvalidArgument
naming the field), calls one use case in ``handlers``, and renders the result. Domain
errors pass through to the server interceptor, which maps them to gRPC statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc

from services.clearing import handlers, store
from services.clearing.domain.applications import ApplicationItem
from services.clearing.domain.events import EventKind, FundType
from services.clearing.domain.lifecycle import InstructionState, Party, StatementState
from services.clearing.domain.limits import MAX_ID_CHARS
from services.clearing.domain.lines import Adjustment, DisputeOutcome, StatementLine
from services.clearing.domain.netting import InstructionLeg
from services.clearing.domain.periods import Period
from services.clearing.domain.pools import check_pool_code
from services.clearing.domain.statements import FundSummary, InstitutionSummary
from services.clearing.messages import (
    FUND_FROM_PB,
    FUND_TO_PB,
    INSTITUTION_KIND_TO_PB,
    LEVEL_TO_PB,
    timestamp_of,
)
from shared.auth import caller
from shared.errors import InvalidArgument
from shared.pages import int_key, next_token, page_after, page_size_of, text_key
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.clearing.v1 import clearing_pb2_grpc
from shared.pb_fields import message_from

MAX_PAGE_SIZE = store.PAGE_ROWS_MAX

E = TypeVar("E")


# -- enums: the domain's StrEnum values are the proto names after the prefix ---------------


def _to_pb(wrapper: Any, prefix: str, value: Any) -> Any:
    return wrapper.Value(f"{prefix}_{value.value}")


def _from_pb(wrapper: Any, prefix: str, number: int, kind: type[E], field_name: str) -> E | None:
    """None for *_UNSPECIFIED (an omitted optional field); InvalidArgument if unknown."""
    if number == 0:
        return None
    try:
        name = wrapper.Name(number)
    except ValueError:
        raise InvalidArgument(field_name, f"unknown value {number}") from None
    return kind(name.removeprefix(f"{prefix}_"))  # type: ignore[call-arg]


def _party(number: int, field_name: str = "party") -> Party | None:
    return _from_pb(pb.Party, "PARTY", number, Party, field_name)


# -- request fields --------------------------------------------------------------------------


def _period(text: str, field_name: str = "period") -> Period:
    if not text:
        raise InvalidArgument(field_name, "required (YYYYMM)")
    return Period.parse(text, field_name)


def _id(text: str, field_name: str) -> str:
    if not (1 <= len(text) <= MAX_ID_CHARS and text.isascii() and text.isprintable()):
        raise InvalidArgument(field_name, f"1..{MAX_ID_CHARS} printable ASCII characters")
    return text


def _optional_pool(text: str, field_name: str) -> str | None:
    return check_pool_code(text, field_name) if text else None


def _amounts(items: Sequence[Any], field_name: str) -> dict[FundType, int]:
    amounts: dict[FundType, int] = {}
    for index, item in enumerate(items):
        fund = FUND_FROM_PB.get(item.fund_type)
        if fund is None:
            raise InvalidArgument(f"{field_name}[{index}].fund_type", "not a cleared fund")
        if fund in amounts:
            raise InvalidArgument(f"{field_name}[{index}].fund_type", "listed twice")
        amounts[fund] = int(item.amount_fen)
    return amounts


# -- responses -------------------------------------------------------------------------------


def _ts(moment: datetime | None) -> Any:
    return timestamp_of(moment) if moment is not None else None


def _period_pb(view: store.PeriodView) -> pb.Period:
    return message_from(
        pb.Period,
        view,
        state=_to_pb(pb.PeriodState, "PERIOD_STATE", view.state),
        closed_at=_ts(view.closed_at),
        generated_at=_ts(view.generated_at),
        delivered_at=_ts(view.delivered_at),
        netted_at=_ts(view.netted_at),
        settled_at=_ts(view.settled_at),
        statements_by_state=[
            pb.StateCount(state=state, count=count)
            for state, count in sorted(view.statements_by_state.items())
        ],
    )


def _fund_total_pb(f: FundSummary) -> pb.FundTotal:
    return message_from(pb.FundTotal, f, fund_type=FUND_TO_PB[f.fund])


def _institution_total_pb(k: InstitutionSummary) -> pb.InstitutionTotal:
    return message_from(
        pb.InstitutionTotal,
        k,
        institution_kind=INSTITUTION_KIND_TO_PB[k.kind],
        funds=[_fund_total_pb(f) for f in k.funds],
    )


def _parties_pb(parties: frozenset[Party]) -> list[Any]:
    return [_to_pb(pb.Party, "PARTY", p) for p in sorted(parties)]


def _statement_pb(v: store.StatementView) -> pb.Statement:
    return message_from(
        pb.Statement,
        v,
        period=str(v.period),
        level=LEVEL_TO_PB[v.level],
        state=_to_pb(pb.StatementState, "STATEMENT_STATE", v.status.state),
        confirmed_by=_parties_pb(v.status.confirmed_by),
        disputed_by=_parties_pb(v.status.disputed_by),
        disputed_line_count=v.disputed_lines,
        funds=[_fund_total_pb(f) for f in v.funds],
        generated_at=_ts(v.generated_at),
        delivered_at=_ts(v.delivered_at),
        institution_totals=[_institution_total_pb(k) for k in v.institutions],
    )


def _fund_amounts_pb(line_amounts: Sequence[Any]) -> list[pb.FundAmount]:
    return [
        pb.FundAmount(fund_type=FUND_TO_PB[a.fund], amount_fen=a.amount_fen) for a in line_amounts
    ]


def _kind_pb(kind: EventKind) -> Any:
    return _to_pb(pb.LineKind, "LINE_KIND", kind)


def _line_pb(v: store.LineView) -> pb.StatementLine:
    x: StatementLine = v.line
    return pb.StatementLine(
        line_no=v.line_no,
        setl_id=x.setl_id,
        kind=_kind_pb(x.kind),
        reversed_setl_id=x.reversed_setl_id or "",
        event_id=x.event_id,
        hospital_code=x.hospital_code,
        event_period=str(x.event_period),
        late=x.late,
        settle_time=_ts(x.settle_time),
        amounts=_fund_amounts_pb(x.amounts),
        total_fen=x.total_fen,
        disputed_by=_to_pb(pb.Party, "PARTY", v.disputed_by)
        if v.disputed_by
        else pb.PARTY_UNSPECIFIED,
        dispute_reason=v.dispute_reason,
    )


def _adjustment_pb(v: store.AdjustmentView) -> pb.Adjustment:
    a: Adjustment = v.adjustment
    return pb.Adjustment(
        origin_period=str(a.origin_period),
        origin_statement_id=v.origin_statement_id,
        setl_id=a.line.setl_id,
        kind=_kind_pb(a.line.kind),
        outcome=_to_pb(pb.DisputeOutcome, "DISPUTE_OUTCOME", a.outcome),
        amounts=_fund_amounts_pb(a.amounts),
        total_fen=a.total_fen,
        note=a.note,
        target_period=v.target_period,
    )


def _instruction_pb(v: store.InstructionView) -> pb.PaymentInstruction:
    i = v.instruction
    return message_from(
        pb.PaymentInstruction,
        i,
        period=str(i.period),
        leg=_to_pb(pb.NetLeg, "NET_LEG", i.leg),
        state=_to_pb(pb.InstructionState, "INSTRUCTION_STATE", v.state),
        payment_reference=v.payment_reference,
        paid_at=_ts(v.paid_at),
    )


def _advance_pb(v: store.AdvanceView) -> pb.AdvanceFund:
    used_bp = (v.used_fen * 10_000) // v.advance_fen if v.advance_fen > 0 else 0
    return message_from(
        pb.AdvanceFund,
        v,
        used_bp=max(min(used_bp, 2**31 - 1), -(2**31)),
        alerted_thresholds_bp=list(v.alerted_bp),
        updated_at=_ts(v.updated_at),
    )


def _application_pb(
    result: handlers.ApplicationResult,
) -> pb.SubmitClearingApplicationResponse:
    a = result.application
    return pb.SubmitClearingApplicationResponse(
        application_id=a.application_id,
        state=pb.ApplicationState.Value(f"APPLICATION_STATE_{a.state}"),
        matched=a.difference_count == 0,
        item_count=a.item_count,
        application_fen=a.application_fen,
        ledger_item_count=a.ledger_item_count,
        ledger_fen=a.ledger_fen,
        difference_count=a.difference_count,
        differences=[
            pb.ApplicationDifference(
                setl_id=d.setl_id,
                kind=_to_pb(pb.DifferenceKind, "DIFFERENCE_KIND", d.kind),
                application_fen=d.application_fen,
                ledger_fen=d.ledger_fen,
            )
            for d in a.differences
        ],
        differences_truncated=a.difference_count > len(a.differences),
        no_op=result.no_op,
    )


class ClearingServicer(clearing_pb2_grpc.ClearingServiceServicer):
    def __init__(self, clearing: handlers.Clearing) -> None:
        self._clearing = clearing

    # -- periods --------------------------------------------------------------------------

    async def GetPeriod(
        self, request: pb.GetPeriodRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPeriodResponse:
        view = await self._clearing.period(caller(), _period(request.period))
        return pb.GetPeriodResponse(period=_period_pb(view))

    async def ClosePeriod(
        self, request: pb.ClosePeriodRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClosePeriodResponse:
        step = await self._clearing.close_period(caller(), _period(request.period))
        return pb.ClosePeriodResponse(period=_period_pb(step.period), no_op=step.no_op)

    async def GenerateStatements(
        self, request: pb.GenerateStatementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateStatementsResponse:
        step = await self._clearing.generate(caller(), _period(request.period))
        return pb.GenerateStatementsResponse(
            period=_period_pb(step.period),
            no_op=step.no_op,
            statement_count=step.count,
            total_net_fen=step.total_net_fen,
            changed_count=step.changed_count,
        )

    async def DeliverStatements(
        self, request: pb.DeliverStatementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeliverStatementsResponse:
        step = await self._clearing.deliver(caller(), _period(request.period))
        return pb.DeliverStatementsResponse(
            period=_period_pb(step.period), no_op=step.no_op, delivered_count=step.count
        )

    async def NetPeriod(
        self, request: pb.NetPeriodRequest, context: grpc.aio.ServicerContext
    ) -> pb.NetPeriodResponse:
        step = await self._clearing.net(caller(), _period(request.period))
        return pb.NetPeriodResponse(
            period=_period_pb(step.period), no_op=step.no_op, instruction_count=step.count
        )

    # -- statements -----------------------------------------------------------------------

    async def ListStatements(
        self, request: pb.ListStatementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStatementsResponse:
        limit = page_size_of(request.page, MAX_PAGE_SIZE)
        views = await self._clearing.list_statements(
            caller(),
            _period(request.period),
            pool=_optional_pool(request.pool, "pool"),
            state=_from_pb(
                pb.StatementState, "STATEMENT_STATE", request.state, StatementState, "state"
            ),
            after=text_key(page_after(request.page)),
            limit=limit,
        )
        return pb.ListStatementsResponse(
            statements=[_statement_pb(v) for v in views],
            next_page_token=next_token(views, limit, views[-1].statement_id if views else None),
        )

    async def GetStatement(
        self, request: pb.GetStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatementResponse:
        limit = page_size_of(request.page, MAX_PAGE_SIZE)
        detail = await self._clearing.statement(
            caller(),
            request.statement_id,
            after_line_no=int_key(page_after(request.page)),
            limit=limit,
            include_canonical=request.include_canonical,
        )
        return pb.GetStatementResponse(
            statement=_statement_pb(detail.statement),
            lines=[_line_pb(v) for v in detail.lines],
            next_page_token=next_token(
                detail.lines, limit, detail.lines[-1].line_no if detail.lines else None
            ),
            adjustments=[_adjustment_pb(a) for a in detail.adjustments],
            adjustments_truncated=detail.adjustments_truncated,
            canonical=detail.canonical,
        )

    async def ConfirmStatement(
        self, request: pb.ConfirmStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmStatementResponse:
        step = await self._clearing.confirm(caller(), request.statement_id, _party(request.party))
        return pb.ConfirmStatementResponse(
            statement=_statement_pb(step.statement), no_op=step.no_op
        )

    async def DisputeStatement(
        self, request: pb.DisputeStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisputeStatementResponse:
        setl_ids = [_id(s, f"setl_ids[{i}]") for i, s in enumerate(request.setl_ids)]
        step = await self._clearing.dispute(
            caller(),
            request.statement_id,
            _party(request.party),
            whole_statement=request.whole_statement,
            setl_ids=setl_ids,
            reason=request.reason,
        )
        return pb.DisputeStatementResponse(
            statement=_statement_pb(step.statement),
            no_op=step.no_op,
            disputed_line_count=step.disputed_line_count,
        )

    async def ResolveDispute(
        self, request: pb.ResolveDisputeRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveDisputeResponse:
        decisions = [_decision(i, d) for i, d in enumerate(request.decisions)]
        result = await self._clearing.resolve(caller(), request.statement_id, decisions)
        return pb.ResolveDisputeResponse(
            statement=_statement_pb(result.statement),
            no_op=result.no_op,
            adjustments=[_adjustment_pb(a) for a in result.adjustments],
            undecided_line_count=result.undecided_line_count,
        )

    # -- netting and payments -------------------------------------------------------------

    async def GetNetPositions(
        self, request: pb.GetNetPositionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetNetPositionsResponse:
        period = _period(request.period)
        leg = _from_pb(pb.NetLeg, "NET_LEG", request.leg, InstructionLeg, "leg")
        levels = await self._clearing.net_positions(caller(), period, leg, request.scope or None)
        return pb.GetNetPositionsResponse(
            period=str(period),
            levels=[
                pb.NetLevel(
                    leg=_to_pb(pb.NetLeg, "NET_LEG", level.view.leg),
                    scope=level.view.scope,
                    hub=level.hub,
                    positions=[
                        pb.NetPosition(
                            party=party,
                            receivable_fen=receivable,
                            payable_fen=payable,
                            net_fen=receivable - payable,
                        )
                        for party, receivable, payable in level.view.positions
                    ],
                    cells=[
                        pb.MatrixCell(payer=payer, receiver=receiver, amount_fen=amount)
                        for payer, receiver, amount in level.view.cells
                    ],
                    province_net_fen=(
                        level.province_net_fen if level.view.leg is InstructionLeg.ALLOCATION else 0
                    ),
                )
                for level in levels
            ],
        )

    async def ListPaymentInstructions(
        self, request: pb.ListPaymentInstructionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPaymentInstructionsResponse:
        limit = page_size_of(request.page, MAX_PAGE_SIZE)
        views = await self._clearing.list_instructions(
            caller(),
            _period(request.period),
            party=_id(request.party, "party") if request.party else None,
            state=_from_pb(
                pb.InstructionState, "INSTRUCTION_STATE", request.state, InstructionState, "state"
            ),
            after_seq=int_key(page_after(request.page)),
            limit=limit,
        )
        return pb.ListPaymentInstructionsResponse(
            instructions=[_instruction_pb(v) for v in views],
            next_page_token=next_token(views, limit, views[-1].seq if views else None),
        )

    async def RecordPayment(
        self, request: pb.RecordPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordPaymentResponse:
        step = await self._clearing.record_payment(
            caller(), request.instruction_id, request.amount_fen, request.payment_reference
        )
        return pb.RecordPaymentResponse(
            instruction=_instruction_pb(step.instruction),
            no_op=step.no_op,
            period_state=_to_pb(pb.PeriodState, "PERIOD_STATE", step.period_state),
        )

    # -- advance funds --------------------------------------------------------------------

    async def GetAdvanceFunds(
        self, request: pb.GetAdvanceFundsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAdvanceFundsResponse:
        limit = page_size_of(request.page, MAX_PAGE_SIZE)
        after = page_after(request.page)
        valid_after = after is None or (
            isinstance(after, list) and len(after) == 2 and all(isinstance(x, str) for x in after)
        )
        if not valid_after:
            raise InvalidArgument("page.page_token", "not a token this service issued")
        views = await self._clearing.advance_funds(
            caller(),
            _period(request.period),
            insured_pool=_optional_pool(request.insured_pool, "insured_pool"),
            treatment_pool=_optional_pool(request.treatment_pool, "treatment_pool"),
            after=(after[0], after[1]) if after else None,
            limit=limit,
        )
        last = [views[-1].insured_pool, views[-1].treatment_pool] if views else None
        return pb.GetAdvanceFundsResponse(
            advance_funds=[_advance_pb(v) for v in views],
            thresholds_bp=list(self._clearing.thresholds_bp),
            next_page_token=next_token(views, limit, last),
        )

    async def SetAdvanceFund(
        self, request: pb.SetAdvanceFundRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetAdvanceFundResponse:
        sizing = request.WhichOneof("sizing")
        history = None
        if sizing == "from_history":
            h = request.from_history
            if h.trailing_months < 0 or h.months_cover < 0:
                raise InvalidArgument("from_history", "months must not be negative")
            history = handlers.SizeFromHistory(
                as_of=_period(h.as_of_period, "from_history.as_of_period"),
                trailing_months=h.trailing_months or None,
                months_cover=h.months_cover or None,
            )
        result = await self._clearing.set_advance(
            caller(),
            request.insured_pool,
            request.treatment_pool,
            amount_fen=request.amount_fen if sizing == "amount_fen" else None,
            from_history=history,
            note=request.note,
        )
        return pb.SetAdvanceFundResponse(
            advance_fund=_advance_pb(result.advance),
            trailing_monthly_fen=list(result.trailing_monthly_fen),
        )

    async def TopUpAdvanceFund(
        self, request: pb.TopUpAdvanceFundRequest, context: grpc.aio.ServicerContext
    ) -> pb.TopUpAdvanceFundResponse:
        result = await self._clearing.top_up(
            caller(),
            request.insured_pool,
            request.treatment_pool,
            top_up_id=request.top_up_id,
            amount_fen=request.amount_fen,
            note=request.note,
        )
        return pb.TopUpAdvanceFundResponse(
            advance_fund=_advance_pb(result.advance), no_op=result.no_op
        )

    # -- hospitals' clearing applications -------------------------------------------------

    async def SubmitClearingApplication(
        self, request: pb.SubmitClearingApplicationRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitClearingApplicationResponse:
        items = [
            ApplicationItem(_id(item.setl_id, f"items[{i}].setl_id"), int(item.fund_amount_fen))
            for i, item in enumerate(request.items)
        ]
        result = await self._clearing.submit_application(
            caller(),
            request.hospital_code,
            _period(request.period),
            items,
        )
        return _application_pb(result)

    async def CancelClearingApplication(
        self, request: pb.CancelClearingApplicationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelClearingApplicationResponse:
        result = await self._clearing.cancel_application(
            caller(), request.application_id, request.reason
        )
        a = result.application
        return pb.CancelClearingApplicationResponse(
            application_id=a.application_id,
            state=pb.ApplicationState.Value(f"APPLICATION_STATE_{a.state}"),
            no_op=result.no_op,
        )


def _decision(index: int, d: Any) -> handlers.Decision:
    field_name = f"decisions[{index}]"
    outcome = _from_pb(
        pb.DisputeOutcome, "DISPUTE_OUTCOME", d.outcome, DisputeOutcome, f"{field_name}.outcome"
    )
    if outcome is None:
        raise InvalidArgument(f"{field_name}.outcome", "required")
    amended = _amounts(d.amended_amounts, f"{field_name}.amended_amounts")
    if outcome is not DisputeOutcome.AMENDED and amended:
        raise InvalidArgument(f"{field_name}.amended_amounts", "only for AMENDED")
    return handlers.Decision(
        setl_id=_id(d.setl_id, f"{field_name}.setl_id"),
        kind=_from_pb(pb.LineKind, "LINE_KIND", d.kind, EventKind, f"{field_name}.kind"),
        outcome=outcome,
        amended_fen=amended if outcome is DisputeOutcome.AMENDED else None,
        note=d.note,
    )
