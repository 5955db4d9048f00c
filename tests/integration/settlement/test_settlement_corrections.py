"""2601 corrections of 2202, 2402, 2403, 2404 and 2405 through the real gRPC path.

Each restores the encounter as it was before the transaction while the encounter is
exactly as that transaction left it; once something has happened since, the correction
is refused with CHANGED_SINCE_TRANSACTION and writes nothing. A resent correction msgid
is answered from storage; the corrected original's msgid is refused from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc

from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    BLOOD_COUNT,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    INFUSION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    fee,
    reason,
    replayed,
    rpc_error,
    today,
)
from .test_settlement_bad_input import refused

_ROW = (
    "SELECT state, begin_date, discharge_date, diag_code, dept_code, line_count,"
    " line_amount_fen, coverage_allowed, filing_id, ratio_reduction_bp,"
    " (SELECT count(*) FROM fee_lines f WHERE f.mdtrt_id = e.mdtrt_id"
    "   AND f.cancelled_at IS NULL) AS standing"
    " FROM encounters e WHERE mdtrt_id = $1"
)


async def _row(db: asyncpg.Pool, mdtrt_id: str) -> dict[str, Any]:
    async with db.acquire() as conn:
        row = await conn.fetchrow(_ROW, mdtrt_id)
    assert row is not None
    return dict(row)


async def _send(
    h: Hospital, method: str, request_type: Any, person: filing_pb2.Person, mdtrt_id: str,
    msgid: str, **more: Any,
) -> Any:  # fmt: skip
    request = request_type(
        header=h.header(person.insured_pool, msgid), mdtrt_id=mdtrt_id, psn_no=person.psn_no, **more
    )
    return await h.call(method, request)


def _correction(
    h: Hospital, person: filing_pb2.Person, omsgid: str, oinfno: str, msgid: str | None = None
) -> pb.CorrectRequest:
    return pb.CorrectRequest(
        header=h.header(person.insured_pool, msgid),
        psn_no=person.psn_no,
        omsgid=omsgid,
        oinfno=oinfno,
    )


async def test_correcting_a_registration_cancel_restores_it_with_its_fee_lines(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(
        person, [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44")]
    )
    before = await _row(settlement_db, mdtrt_id)
    cancel_msgid = h.msgids(h.code)
    await _send(
        h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id, cancel_msgid
    )
    assert (await _row(settlement_db, mdtrt_id))["state"] == "CANCELLED"

    correct_msgid = h.msgids(h.code)
    request = _correction(h, person, cancel_msgid, "2202", correct_msgid)
    undone = await h.call("Correct", request)
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert undone.mdtrt_id == mdtrt_id
    assert await _row(settlement_db, mdtrt_id) == before  # OPEN, both lines standing
    assert before["standing"] == 2 and before["state"] == "OPEN"
    # Resent: the first answer, nothing written. Again under a new msgid: refused.
    assert await replayed(settlement_db, h.call("Correct", request)) == undone
    twice = await refused(
        settlement_db, h.call("Correct", _correction(h, person, cancel_msgid, "2202"))
    )
    assert reason(twice) == "ALREADY_CORRECTED"
    # The corrected cancel's msgid is refused, not answered from storage.
    late = await refused(
        settlement_db,
        _send(
            h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id, cancel_msgid
        ),
    )
    assert reason(late) == "MSGID_CORRECTED"
    # The restored visit settles to the fen of its lines.
    settled = await h.settle(person, mdtrt_id, total_fen)
    assert settled.setlinfo.medfee_sumamt_fen == total_fen


async def test_correcting_an_admission_cancel_reopens_the_stay(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    before = await _row(settlement_db, mdtrt_id)
    cancel_msgid = h.msgids(h.code)
    await _send(h, "CancelAdmission", pb.CancelAdmissionRequest, person, mdtrt_id, cancel_msgid)
    # The wrong transaction number is named: refused, nothing written.
    error = await refused(
        settlement_db, h.call("Correct", _correction(h, person, cancel_msgid, "2202"))
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    undone = await h.call("Correct", _correction(h, person, cancel_msgid, "2404"))
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert await _row(settlement_db, mdtrt_id) == before
    # The stay goes on: lines, discharge.
    await h.upload(person, mdtrt_id, [fee(1, INFUSION, "45")])
    await h.discharge(person, mdtrt_id)


async def test_correcting_an_admission_change_restores_the_previous_admission(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44", start=today() - timedelta(days=20))
    h = hospital(GUANGZHOU_HOSPITALS[2])
    mdtrt_id = (await h.admit(person, begin=today() - timedelta(days=2))).mdtrt_id
    before = await _row(settlement_db, mdtrt_id)
    change_msgid = h.msgids(h.code)
    changed = await _send(
        h, "ChangeAdmission", pb.ChangeAdmissionRequest, person, mdtrt_id, change_msgid,
        begntime=(today() - timedelta(days=5)).isoformat(), adm_diag_codg="I21.000",
        adm_dept_codg="CARD-01",
    )  # fmt: skip
    assert changed.adm_dept_codg == "CARD-01"
    undone = await h.call("Correct", _correction(h, person, change_msgid, "2403"))
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert await _row(settlement_db, mdtrt_id) == before

    # Changed again, then a fee line: the change can no longer be corrected.
    again_msgid = h.msgids(h.code)
    await _send(
        h, "ChangeAdmission", pb.ChangeAdmissionRequest, person, mdtrt_id, again_msgid,
        adm_dept_codg="CARD-02",
    )  # fmt: skip
    await h.upload(person, mdtrt_id, [fee(1, INFUSION, "44")])
    now = await _row(settlement_db, mdtrt_id)
    error = await refused(
        settlement_db, h.call("Correct", _correction(h, person, again_msgid, "2403"))
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "CHANGED_SINCE_TRANSACTION"
    assert await _row(settlement_db, mdtrt_id) == now
    # The refused correction left no tombstone: the same correction msgid is free.


async def test_correcting_a_discharge_cancel_restores_the_discharge(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person, begin=today() - timedelta(days=3))).mdtrt_id
    await h.upload(person, mdtrt_id, [fee(1, INFUSION, "45")])
    await h.discharge(person, mdtrt_id, today() - timedelta(days=1))
    discharged = await _row(settlement_db, mdtrt_id)
    assert discharged["discharge_date"] == today() - timedelta(days=1)
    cancel_msgid = h.msgids(h.code)
    await _send(h, "CancelDischarge", pb.CancelDischargeRequest, person, mdtrt_id, cancel_msgid)
    assert (await _row(settlement_db, mdtrt_id))["discharge_date"] is None
    undone = await h.call("Correct", _correction(h, person, cancel_msgid, "2405"))
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert await _row(settlement_db, mdtrt_id) == discharged

    # Cancelled again and a line added since: refused, nothing written.
    second = h.msgids(h.code)
    await _send(h, "CancelDischarge", pb.CancelDischargeRequest, person, mdtrt_id, second)
    await h.upload(person, mdtrt_id, [fee(2, INFUSION, "45")])
    error = await refused(settlement_db, h.call("Correct", _correction(h, person, second, "2405")))
    assert reason(error) == "CHANGED_SINCE_TRANSACTION"
    # Another hospital cannot correct it at all.
    other = hospital(NANNING_HOSPITALS[1])
    denied = await rpc_error(other.call("Correct", _correction(other, person, second, "2405")))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_correcting_a_discharge_reopens_the_stay_and_refuses_its_msgid(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.admit(person, begin=today() - timedelta(days=3))).mdtrt_id
    await h.upload(person, mdtrt_id, [fee(1, INFUSION, "45")])
    admitted = await _row(settlement_db, mdtrt_id)
    discharge_msgid = h.msgids(h.code)
    endtime = (today() - timedelta(days=1)).isoformat()
    await _send(
        h, "Discharge", pb.DischargeRequest, person, mdtrt_id, discharge_msgid, endtime=endtime
    )
    assert (await _row(settlement_db, mdtrt_id))["discharge_date"] == today() - timedelta(days=1)

    request = _correction(h, person, discharge_msgid, "2402")
    undone = await h.call("Correct", request)
    assert undone.result == pb.CORRECTION_RESULT_UNDONE
    assert undone.mdtrt_id == mdtrt_id
    assert await _row(settlement_db, mdtrt_id) == admitted  # in hospital again
    # Resent: the first answer, nothing written. The discharge's msgid is refused from now
    # on, even resent as it was: its stored answer no longer stands.
    assert await replayed(settlement_db, h.call("Correct", request)) == undone
    late = await refused(
        settlement_db,
        _send(
            h, "Discharge", pb.DischargeRequest, person, mdtrt_id, discharge_msgid, endtime=endtime
        ),
    )
    assert reason(late) == "MSGID_CORRECTED"
    # Discharged again under a new msgid.
    await h.discharge(person, mdtrt_id, today())
    assert (await _row(settlement_db, mdtrt_id))["discharge_date"] == today()
