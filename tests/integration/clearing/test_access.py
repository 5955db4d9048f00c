"""Authorise before lookup: a caller refused on something gets the same answer whether it
exists or not, so no RPC tells an outsider which statements, payment instructions or
clearing applications exist. Real gRPC against the running service."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import pytest

from shared.bus import Bus
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb

from .conftest import Client
from .support import publish, settlement, wait_ingested

PERIOD = "201106"
NANNING, LIUZHOU, GUANGZHOU, SHENZHEN, FOSHAN = "450100", "450200", "440100", "440300", "440600"
HOSPITAL, OTHER_HOSPITAL = "H45010000001", "H44010000009"


async def _refusal(call: Awaitable[Any], named: str = "") -> tuple[grpc.StatusCode, str]:
    """The status and details of a refused call, the id it named (if given) blanked out:
    two refusals that differ only by the id asked about are the same answer."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    details = refused.value.details() or ""
    return refused.value.code(), details.replace(named, "<id>") if named else details


async def _netted_period(
    operator: Client, publisher: Bus, namespace: str, db: asyncpg.Pool, unique: str
) -> list[pb.PaymentInstruction]:
    events = [
        settlement(f"A{unique}1", NANNING, GUANGZHOU, PERIOD, hifp=50_000),
        settlement(f"A{unique}2", LIUZHOU, NANNING, PERIOD, hifp=8_000),
        settlement(f"A{unique}3", SHENZHEN, GUANGZHOU, PERIOD, hifp=6_000),
    ]
    await publish(publisher, namespace, events)
    await wait_ingested(db, events)
    await operator.ClosePeriod(pb.ClosePeriodRequest(period=PERIOD))
    await operator.GenerateStatements(pb.GenerateStatementsRequest(period=PERIOD))
    await operator.DeliverStatements(pb.DeliverStatementsRequest(period=PERIOD))
    listed = await operator.ListStatements(pb.ListStatementsRequest(period=PERIOD))
    for s in listed.statements:
        for party in (pb.PARTY_INSURED, pb.PARTY_TREATMENT):
            await operator.ConfirmStatement(
                pb.ConfirmStatementRequest(statement_id=s.statement_id, party=party)
            )
    await operator.NetPeriod(pb.NetPeriodRequest(period=PERIOD))
    reply = await operator.ListPaymentInstructions(pb.ListPaymentInstructionsRequest(period=PERIOD))
    return list(reply.instructions)


async def test_outsiders_learn_nothing_of_what_exists(
    operator: Client,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
    unique: str,
) -> None:
    instructions = await _netted_period(operator, publisher, namespace, db, unique)
    guangxi = next(i for i in instructions if i.leg == pb.NET_LEG_PROVINCIAL and i.scope == "45")
    missing_guangxi = f"{PERIOD}-PROVINCIAL-45-{LIUZHOU}-CENTRE-45-X"
    missing_guangdong = f"{PERIOD}-PROVINCIAL-44-{FOSHAN}-CENTRE-44"

    def payment(instruction_id: str, amount_fen: int = 1) -> pb.RecordPaymentRequest:
        return pb.RecordPaymentRequest(
            instruction_id=instruction_id, amount_fen=amount_fen, payment_reference="BANK-1"
        )

    # A hospital (or a pool agency) may never record a payment: refused before any lookup,
    # in the same words for an instruction that exists and one that does not.
    for code in (HOSPITAL, "P45010000001", NANNING):
        refusals = {
            await _refusal(as_caller(code).RecordPayment(payment(instruction_id)), instruction_id)
            for instruction_id in (guangxi.instruction_id, missing_guangxi, "no-such-id")
        }
        assert len(refusals) == 1, refusals
        ((status, _),) = refusals
        assert status is grpc.StatusCode.PERMISSION_DENIED
    # Guangdong's centre on Guangxi's legs: refused alike, existing or not ...
    for instruction_id in (guangxi.instruction_id, missing_guangxi):
        status, details = await _refusal(as_caller("44").RecordPayment(payment(instruction_id)))
        assert status is grpc.StatusCode.PERMISSION_DENIED
        assert "not found" not in details
    # ... while on its own legs, and for trusted callers, a missing one is NOT_FOUND.
    status, _ = await _refusal(as_caller("44").RecordPayment(payment(missing_guangdong)))
    assert status is grpc.StatusCode.NOT_FOUND
    status, _ = await _refusal(operator.RecordPayment(payment(missing_guangxi)))
    assert status is grpc.StatusCode.NOT_FOUND
    # Guangxi's centre passes the check (and is then told the amount is wrong).
    status, _ = await _refusal(
        as_caller("45").RecordPayment(payment(guangxi.instruction_id, guangxi.amount_fen + 1))
    )
    assert status is grpc.StatusCode.INVALID_ARGUMENT

    # Statements: a Guangdong-only one that exists, one that does not; one of Nanning's
    # pairs that does not exist.
    existing = f"{PERIOD}-{SHENZHEN}-{GUANGZHOU}"
    missing = f"{PERIOD}-{FOSHAN}-{GUANGZHOU}"
    missing_own = f"{PERIOD}-{NANNING}-{SHENZHEN}"
    requests: list[tuple[str, Callable[[str], Any]]] = [
        ("GetStatement", lambda i: pb.GetStatementRequest(statement_id=i)),
        ("ConfirmStatement", lambda i: pb.ConfirmStatementRequest(statement_id=i)),
        (
            "DisputeStatement",
            lambda i: pb.DisputeStatementRequest(statement_id=i, whole_statement=True, reason="x"),
        ),
        ("ResolveDispute", lambda i: pb.ResolveDisputeRequest(statement_id=i)),
    ]
    for rpc, request in requests:
        for code in (HOSPITAL, "channel-app", NANNING, "45"):
            refusals = {
                await _refusal(getattr(as_caller(code), rpc)(request(statement_id)), statement_id)
                for statement_id in (existing, missing)
            }
            assert len(refusals) == 1, (rpc, code, refusals)
            ((status, _),) = refusals
            assert status is grpc.StatusCode.PERMISSION_DENIED, (rpc, code)
        status, _ = await _refusal(operator.GetStatement(request(missing)))
        assert status is grpc.StatusCode.NOT_FOUND
    status, _ = await _refusal(
        as_caller(NANNING).GetStatement(pb.GetStatementRequest(statement_id=missing_own))
    )
    assert status is grpc.StatusCode.NOT_FOUND
    mine = await as_caller(NANNING).GetStatement(
        pb.GetStatementRequest(statement_id=f"{PERIOD}-{NANNING}-{GUANGZHOU}")
    )
    assert mine.statement.net_fen == 50_000


async def test_an_institution_cannot_tell_anothers_application_from_none(
    as_caller: Callable[[str], Client], operator: Client
) -> None:
    submitted = await as_caller(OTHER_HOSPITAL).SubmitClearingApplication(
        pb.SubmitClearingApplicationRequest(
            hospital_code=OTHER_HOSPITAL,
            period=PERIOD,
            items=[pb.ApplicationItem(setl_id="not-in-the-ledger", fund_amount_fen=100)],
        )
    )
    theirs, nobodys = submitted.application_id, str(uuid.uuid4())

    def cancel(application_id: str) -> pb.CancelClearingApplicationRequest:
        return pb.CancelClearingApplicationRequest(application_id=application_id)

    for code in (HOSPITAL, NANNING, "44"):
        refusals = {
            await _refusal(
                as_caller(code).CancelClearingApplication(cancel(application_id)), application_id
            )
            for application_id in (theirs, nobodys)
        }
        assert len(refusals) == 1, (code, refusals)
        ((status, _),) = refusals
        assert status is grpc.StatusCode.PERMISSION_DENIED
    status, _ = await _refusal(operator.CancelClearingApplication(cancel(nobodys)))
    assert status is grpc.StatusCode.NOT_FOUND
    cancelled = await as_caller(OTHER_HOSPITAL).CancelClearingApplication(cancel(theirs))
    assert cancelled.state == pb.APPLICATION_STATE_CANCELLED
    # Submitting for another hospital is refused before the code is even looked at.
    status, _ = await _refusal(
        as_caller(HOSPITAL).SubmitClearingApplication(
            pb.SubmitClearingApplicationRequest(hospital_code="bad", period=PERIOD)
        )
    )
    assert status is grpc.StatusCode.PERMISSION_DENIED
