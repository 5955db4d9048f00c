"""Operator commands for the month-end clearing: ``crossclear clearing …``.

Every step goes through the ClearingService over gRPC as an operator, so the service
applies the same rules, locks and audit trail as for any other caller. The caller is the
certificate's common name under mutual TLS (CROSSCLEAR_TLS_DIR holding an operator's
certificate, e.g. ``crossclear certs op-cli``), or ``op-cli`` on a development server.
``export`` reads the clearing schema directly: it renders what is stored, read-only.

    crossclear clearing run 202501        # close, generate, deliver
    crossclear clearing status 202501
    crossclear clearing net 202501        # once every statement is confirmed or resolved
    crossclear clearing pay 202501 --reference BANK-20250210
    crossclear clearing export 202501 --out statements/
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer

from shared.config import Settings, get_settings
from shared.grpc_client import caller_metadata, development_server_name, open_channel
from shared.grpc_errors import field_violations_of, reason_of
from shared.money import format_fen
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb
from shared.pb.crossclear.clearing.v1 import clearing_pb2_grpc
from shared.pb.crossclear.common.v1 import common_pb2

app = typer.Typer(no_args_is_help=True, add_completion=False)

OPERATOR_CODE = "op-cli"
RPC_TIMEOUT_S = 600.0  # month-end steps on a large period take a while
PAGES_MAX = 1_000  # 1000 pages of 1000 rows: far above any period's statements

T = TypeVar("T")
Period = Annotated[str, typer.Argument(help="clearing period, YYYYMM")]


def _call(work: Callable[[clearing_pb2_grpc.ClearingServiceStub, Any], Awaitable[T]]) -> T:
    settings = get_settings()

    async def run() -> T:
        target = settings.clearing_target
        async with open_channel(
            target, settings.tls_dir, development_server_name(target)
        ) as channel:
            stub = clearing_pb2_grpc.ClearingServiceStub(channel)
            metadata = caller_metadata(OPERATOR_CODE)
            try:
                return await work(stub, metadata)
            except grpc.aio.AioRpcError as error:
                _refused(error)
                raise  # unreachable: _refused exits

    return asyncio.run(run())


def _refused(error: grpc.aio.AioRpcError) -> None:
    reason = reason_of(error)
    fields = field_violations_of(error)
    detail = f" [{reason}]" if reason else ""
    typer.echo(f"refused: {error.code().name}{detail}: {error.details()}", err=True)
    for name in fields:
        typer.echo(f"  field: {name}", err=True)
    raise typer.Exit(2)


def _state(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


def _echo_period(period: pb.Period, no_op: bool | None = None) -> None:
    flag = " (no change)" if no_op else ""
    typer.echo(
        f"period {period.period}: {_state(period.state, pb.PeriodState, 'PERIOD_STATE_')}{flag}"
    )
    typer.echo(
        f"  ledger: {period.event_count} events ({period.late_event_count} late), "
        f"{period.ledger_entry_count} entries, {format_fen(period.cleared_fen)} yuan"
    )
    if period.statement_count:
        states = ", ".join(f"{s.state} {s.count}" for s in period.statements_by_state)
        typer.echo(f"  statements: {period.statement_count} ({states})")
        typer.echo(f"  statements digest: {period.statements_digest}")
    if period.disputed_line_count or period.adjustment_count:
        typer.echo(
            f"  disputed lines: {period.disputed_line_count}; "
            f"adjustments carried in: {period.adjustment_count}"
        )
    if period.instruction_count:
        typer.echo(
            f"  payment instructions: {period.paid_instruction_count}/"
            f"{period.instruction_count} paid"
        )


def _period_step(method: str, request_type: Any, period: str) -> Any:
    """One month-end step on a period through its RPC; the period as it now stands."""
    reply = _call(
        lambda s, m: getattr(s, method)(
            request_type(period=period), metadata=m, timeout=RPC_TIMEOUT_S
        )
    )
    _echo_period(reply.period, reply.no_op)
    return reply


@app.command()
def close(period: Period) -> None:
    """Cut-off: later events of the period land in the next open period, flagged late."""
    _period_step("ClosePeriod", pb.ClosePeriodRequest, period)


@app.command()
def generate(period: Period) -> None:
    """Generate the statements (again, until delivered: byte-identical for one cut-off)."""
    reply = _period_step("GenerateStatements", pb.GenerateStatementsRequest, period)
    typer.echo(
        f"  generated {reply.statement_count} statements, net {format_fen(reply.total_net_fen)} "
        f"yuan, {reply.changed_count} changed since the previous generation"
    )


@app.command()
def deliver(period: Period) -> None:
    """Send every statement to both parties' region queues."""
    reply = _period_step("DeliverStatements", pb.DeliverStatementsRequest, period)
    typer.echo(f"  delivered {reply.delivered_count} statements")


@app.command()
def run(period: Period) -> None:
    """close, generate and deliver in one go (each step is idempotent)."""
    close(period)
    generate(period)
    deliver(period)


@app.command()
def net(period: Period) -> None:
    """Net the confirmed statements per level and issue payment instructions."""
    _period_step("NetPeriod", pb.NetPeriodRequest, period)
    _echo_positions(period)


async def _all_pages(
    rpc: Callable[..., Awaitable[Any]],
    request: Callable[[common_pb2.PageRequest], Any],
    rows_field: str,
    metadata: Any,
) -> list[Any]:
    """Every row of a listing RPC, page after page (at most PAGES_MAX pages)."""
    found: list[Any] = []
    token = ""
    for _ in range(PAGES_MAX):
        page = common_pb2.PageRequest(page_size=1000, page_token=token)
        reply = await rpc(request(page), metadata=metadata, timeout=30)
        found.extend(getattr(reply, rows_field))
        token = reply.next_page_token
        if not token:
            return found
    raise typer.BadParameter(f"more than {PAGES_MAX} pages")


@app.command()
def status(period: Period) -> None:
    """The period's state, its statements, net positions and payment instructions."""

    async def work(stub: clearing_pb2_grpc.ClearingServiceStub, m: Any) -> tuple[Any, list[Any]]:
        reply = await stub.GetPeriod(pb.GetPeriodRequest(period=period), metadata=m, timeout=30)
        statements = await _all_pages(
            stub.ListStatements,
            lambda page: pb.ListStatementsRequest(period=period, page=page),
            "statements",
            m,
        )
        return reply, statements

    reply, statements = _call(work)
    _echo_period(reply.period)
    for s in statements:
        state = _state(s.state, pb.StatementState, "STATEMENT_STATE_")
        disputed = f", {s.disputed_line_count} lines disputed" if s.disputed_line_count else ""
        typer.echo(
            f"  {s.statement_id:<24} {state:<10} {s.line_count:>7} lines "
            f"{format_fen(s.net_fen):>18} yuan{disputed}"
        )
    if reply.period.state in (pb.PERIOD_STATE_NETTED, pb.PERIOD_STATE_SETTLED):
        _echo_positions(period)


def _echo_positions(period: str) -> None:
    reply = _call(
        lambda s, m: s.GetNetPositions(
            pb.GetNetPositionsRequest(period=period), metadata=m, timeout=30
        )
    )
    for level in reply.levels:
        leg = _state(level.leg, pb.NetLeg, "NET_LEG_")
        typer.echo(f"  net positions {leg} {level.scope} (via {level.hub}):")
        for p in level.positions:
            typer.echo(f"    {p.party:<10} {format_fen(p.net_fen):>18} yuan")
    instructions = _instructions(period)
    if instructions:
        typer.echo("  payment instructions:")
    for i in instructions:
        state = _state(i.state, pb.InstructionState, "INSTRUCTION_STATE_")
        typer.echo(
            f"    {i.instruction_id:<48} {i.payer:>10} → {i.payee:<10} "
            f"{format_fen(i.amount_fen):>18} {state}"
        )


def _instructions(period: str, pending_only: bool = False) -> list[Any]:
    state = pb.INSTRUCTION_STATE_PENDING if pending_only else pb.INSTRUCTION_STATE_UNSPECIFIED

    async def work(stub: clearing_pb2_grpc.ClearingServiceStub, m: Any) -> list[Any]:
        return await _all_pages(
            stub.ListPaymentInstructions,
            lambda page: pb.ListPaymentInstructionsRequest(period=period, state=state, page=page),
            "instructions",
            m,
        )

    return _call(work)


@app.command()
def pay(
    period: Period,
    reference: Annotated[str, typer.Option(help="the bank transfer's reference")],
    instruction: Annotated[
        str | None, typer.Option(help="pay only this instruction (else every pending one)")
    ] = None,
    amount_fen: Annotated[
        int | None, typer.Option(help="with --instruction: its amount, as a check")
    ] = None,
) -> None:
    """Record payments of instructions; the last one settles the period."""
    if instruction is not None:
        if amount_fen is None:
            raise typer.BadParameter("--amount-fen is required with --instruction")
        targets = [(instruction, amount_fen, reference)]
    else:
        pending = _instructions(period, pending_only=True)
        width = len(str(len(pending)))
        targets = [
            (i.instruction_id, i.amount_fen, f"{reference}-{n:0{width}d}")
            for n, i in enumerate(pending, start=1)
        ]
    last_state = None
    for instruction_id, amount, ref in targets:
        request = pb.RecordPaymentRequest(
            instruction_id=instruction_id, amount_fen=amount, payment_reference=ref
        )
        reply = _record_payment(request)
        flag = " (already paid)" if reply.no_op else ""
        typer.echo(f"paid {instruction_id} {format_fen(amount)} yuan ref {ref}{flag}")
        last_state = reply.period_state
    if last_state is not None:
        typer.echo(f"period {period}: {_state(last_state, pb.PeriodState, 'PERIOD_STATE_')}")
    else:
        typer.echo("nothing to pay")


def _record_payment(request: pb.RecordPaymentRequest) -> Any:
    async def work(stub: clearing_pb2_grpc.ClearingServiceStub, m: Any) -> Any:
        return await stub.RecordPayment(request, metadata=m, timeout=30)

    return _call(work)


@app.command()
def export(
    period: Period,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("statements"),
) -> None:
    """Write every statement of the period as CSV and HTML (read from the database).

    Per statement: <id>.summary.csv, .funds.csv, .institutions.csv, .lines.csv,
    .adjustments.csv (UTF-8 with a BOM for Excel, yuan beside fen, bilingual headers) and
    <id>.html.
    """
    from services.clearing.domain.periods import Period as ClearingPeriod
    from services.clearing.export import export_period
    from shared.db import create_pool
    from shared.errors import DomainError

    settings: Settings = get_settings()

    async def work() -> int:
        pool = await create_pool(settings.database_url, "clearing", min_size=1, max_size=2)
        try:
            files = await export_period(pool, ClearingPeriod.parse(period), out)
        finally:
            await pool.close()
        for f in files:
            paths = " ".join(str(p) for p in (*f.csv_paths, f.html_path))
            typer.echo(f"{f.statement_id}: {paths} sha256 {f.digest}")
        return len(files)

    try:
        count = asyncio.run(work())
    except DomainError as error:
        typer.echo(f"refused: {error.message}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"exported {count} statements of {period} to {out}")
