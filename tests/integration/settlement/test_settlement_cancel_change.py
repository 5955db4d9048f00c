"""2202 registration cancel, 2403 admission change, 2404 admission cancel, 2405 discharge
cancel: each works, each refuses with its reason and writes nothing, each answers a
resent msgid with its first answer."""

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
    fields,
    reason,
    replayed,
    today,
)
from .test_settlement_bad_input import refused


async def _call(
    h: Hospital,
    method: str,
    request_type: Any,
    person: filing_pb2.Person,
    mdtrt_id: str,
    msgid: str | None = None,
    caller: str | None = None,
    **more: Any,
) -> Any:
    request = request_type(
        header=h.header(person.insured_pool, msgid), mdtrt_id=mdtrt_id, psn_no=person.psn_no, **more
    )
    return await h.call(method, request, caller)


async def _encounter(db: asyncpg.Pool, mdtrt_id: str) -> asyncpg.Record:
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT state, begin_date, discharge_date, diag_code, dept_code, line_count,"
            " line_amount_fen, coverage_allowed,"
            " (SELECT count(*) FROM fee_lines f WHERE f.mdtrt_id = e.mdtrt_id"
            "   AND f.cancelled_at IS NULL) AS standing"
            " FROM encounters e WHERE mdtrt_id = $1",
            mdtrt_id,
        )
    assert row is not None
    return row


async def test_registration_cancel_takes_its_fee_lines_and_waits_for_a_reversal(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44")
    h = hospital(GUANGZHOU_HOSPITALS[0])
    mdtrt_id, total_fen = await h.outpatient_visit(
        person, [fee(1, CONSULTATION, "44"), fee(2, BLOOD_COUNT, "44")]
    )
    settled = await h.settle(person, mdtrt_id, total_fen)

    error = await refused(
        settlement_db,
        _call(h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id),
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "ENCOUNTER_ALREADY_SETTLED"
    # Another hospital may not cancel it; an inpatient transaction does not apply.
    other = hospital(GUANGZHOU_HOSPITALS[1])
    error = await refused(
        settlement_db,
        _call(other, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id),
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await refused(
        settlement_db, _call(h, "CancelAdmission", pb.CancelAdmissionRequest, person, mdtrt_id)
    )
    assert reason(error) == "NOT_AN_INPATIENT_ENCOUNTER"

    await h.reverse(person, settled.setlinfo)
    msgid = h.msgids(h.code)
    first = await _call(
        h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id, msgid
    )
    assert first.mdtrt_id == mdtrt_id and first.cancelled_count == 2
    row = await _encounter(settlement_db, mdtrt_id)
    assert (row["state"], row["line_count"], row["line_amount_fen"], row["standing"]) == (
        "CANCELLED", 0, 0, 0,
    )  # fmt: skip
    # The same msgid again: the first answer, nothing written.
    again = await replayed(
        settlement_db,
        _call(h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id, msgid),
    )
    assert again == first
    # A new msgid: already cancelled; nothing more takes the encounter.
    error = await refused(
        settlement_db,
        _call(h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id),
    )
    assert reason(error) == "ENCOUNTER_CANCELLED"
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [fee(3, INFUSION, "44")]))
    assert reason(error) == "ENCOUNTER_CANCELLED"


async def test_registration_cancel_without_fee_lines(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    registered = await h.register(person)
    done = await _call(
        h, "CancelRegistration", pb.CancelRegistrationRequest, person, registered.mdtrt_id
    )
    assert done.cancelled_count == 0
    assert (await _encounter(settlement_db, registered.mdtrt_id))["state"] == "CANCELLED"


async def test_admission_cancel_needs_no_lines_no_discharge_no_settlement(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    admitted = await h.admit(person)
    mdtrt_id = admitted.mdtrt_id
    uploaded = await h.upload(person, mdtrt_id, [fee(1, INFUSION, "45")])

    def cancel(msgid: str | None = None) -> Any:
        return _call(h, "CancelAdmission", pb.CancelAdmissionRequest, person, mdtrt_id, msgid)

    error = await refused(settlement_db, cancel())
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "FEE_LINES_STANDING"
    settled = await h.settle(person, mdtrt_id, uploaded.medfee_sumamt_fen)
    assert reason(await refused(settlement_db, cancel())) == "ENCOUNTER_ALREADY_SETTLED"
    await h.reverse(person, settled.setlinfo)
    await h.discharge(person, mdtrt_id)
    await h.call(
        "CancelFeeDetails",
        pb.CancelFeeDetailsRequest(
            header=h.header(person.insured_pool),
            mdtrt_id=mdtrt_id,
            psn_no=person.psn_no,
            all_lines=True,
        ),
    )
    assert reason(await refused(settlement_db, cancel())) == "ALREADY_DISCHARGED"
    error = await refused(
        settlement_db,
        _call(h, "CancelRegistration", pb.CancelRegistrationRequest, person, mdtrt_id),
    )
    assert reason(error) == "NOT_AN_OUTPATIENT_ENCOUNTER"
    await _call(h, "CancelDischarge", pb.CancelDischargeRequest, person, mdtrt_id)

    msgid = h.msgids(h.code)
    first = await cancel(msgid)
    assert first.mdtrt_id == mdtrt_id
    assert (await _encounter(settlement_db, mdtrt_id))["state"] == "CANCELLED"
    assert await replayed(settlement_db, cancel(msgid)) == first
    assert reason(await refused(settlement_db, cancel())) == "ENCOUNTER_CANCELLED"
    # Another hospital's try is refused whatever the state.
    other = hospital(NANNING_HOSPITALS[0])
    error = await refused(
        settlement_db, _call(other, "CancelAdmission", pb.CancelAdmissionRequest, person, mdtrt_id)
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_discharge_cancel_only_while_no_settlement_stands(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    admitted = await h.admit(person, begin=today() - timedelta(days=3))
    mdtrt_id = admitted.mdtrt_id

    def cancel(msgid: str | None = None) -> Any:
        return _call(h, "CancelDischarge", pb.CancelDischargeRequest, person, mdtrt_id, msgid)

    assert reason(await refused(settlement_db, cancel())) == "NOT_DISCHARGED"
    uploaded = await h.upload(
        person, mdtrt_id, [fee(1, INFUSION, "45", day=today() - timedelta(days=2))]
    )
    discharged_on = today() - timedelta(days=1)
    await h.discharge(person, mdtrt_id, discharged_on)
    # Discharged: a line dated today does not fit the stay.
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [fee(2, INFUSION, "45")]))
    assert fields(error) == ["feedetail[0].fee_ocur_time"]
    settled = await h.settle(person, mdtrt_id, uploaded.medfee_sumamt_fen)
    error = await refused(settlement_db, cancel())
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "ENCOUNTER_ALREADY_SETTLED"
    await h.reverse(person, settled.setlinfo)

    msgid = h.msgids(h.code)
    first = await cancel(msgid)
    assert first.endtime == discharged_on.isoformat()
    row = await _encounter(settlement_db, mdtrt_id)
    assert row["discharge_date"] is None and row["state"] == "OPEN"
    assert await replayed(settlement_db, cancel(msgid)) == first
    assert reason(await refused(settlement_db, cancel())) == "NOT_DISCHARGED"
    # Reopened for correction: today's line fits again, and the stay settles and discharges.
    more = await h.upload(person, mdtrt_id, [fee(2, INFUSION, "45")])
    await h.settle(person, mdtrt_id, more.medfee_sumamt_fen)
    await h.discharge(person, mdtrt_id)
    other = hospital(NANNING_HOSPITALS[1])
    error = await refused(
        settlement_db, _call(other, "CancelDischarge", pb.CancelDischargeRequest, person, mdtrt_id)
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_admission_change_before_settlement_only(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44", start=today() - timedelta(days=20))
    h = hospital(GUANGZHOU_HOSPITALS[2])
    admitted = await h.admit(person, begin=today() - timedelta(days=2))
    mdtrt_id = admitted.mdtrt_id
    assert admitted.trtinfo.allowed

    def change(msgid: str | None = None, **more: Any) -> Any:
        return _call(
            h, "ChangeAdmission", pb.ChangeAdmissionRequest, person, mdtrt_id, msgid, **more
        )

    error = await refused(settlement_db, change())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == ["begntime"]
    error = await refused(settlement_db, change(adm_diag_codg="nonsense"))
    assert fields(error) == ["adm_diag_codg"]

    msgid = h.msgids(h.code)
    earlier = today() - timedelta(days=5)
    body = {"begntime": earlier.isoformat(), "adm_diag_codg": "I21.000", "adm_dept_codg": "CARD-01"}
    first = await change(msgid, **body)
    assert (first.begntime, first.adm_diag_codg, first.adm_dept_codg) == (
        earlier.isoformat(), "I21.000", "CARD-01",
    )  # fmt: skip
    assert first.trtinfo.allowed
    row = await _encounter(settlement_db, mdtrt_id)
    assert (row["begin_date"], row["diag_code"], row["dept_code"]) == (
        earlier,
        "I21.000",
        "CARD-01",
    )
    assert await replayed(settlement_db, change(msgid, **body)) == first
    # Only the department: the rest stays.
    dept = await change(adm_dept_codg="CARD-02")
    assert (dept.begntime, dept.adm_diag_codg, dept.adm_dept_codg) == (
        earlier.isoformat(), "I21.000", "CARD-02",
    )  # fmt: skip

    uploaded = await h.upload(
        person, mdtrt_id, [fee(1, INFUSION, "44", day=today() - timedelta(days=4))]
    )
    error = await refused(settlement_db, change(begntime=(today() - timedelta(days=3)).isoformat()))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == "FEE_LINES_BEFORE_ADMISSION"
    await h.discharge(person, mdtrt_id, today() - timedelta(days=1))
    error = await refused(settlement_db, change(begntime=today().isoformat()))
    assert fields(error) == ["begntime"]

    other = hospital(GUANGZHOU_HOSPITALS[0])
    error = await refused(
        settlement_db,
        _call(
            other, "ChangeAdmission", pb.ChangeAdmissionRequest, person, mdtrt_id,
            adm_dept_codg="X",
        ),
    )  # fmt: skip
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED

    await h.settle(person, mdtrt_id, uploaded.medfee_sumamt_fen)
    error = await refused(settlement_db, change(adm_diag_codg="I21.100"))
    assert reason(error) == "ENCOUNTER_ALREADY_SETTLED"


async def test_admission_change_rechecks_the_coverage_of_the_new_date(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44", start=today() - timedelta(days=2))
    h = hospital(GUANGZHOU_HOSPITALS[1])
    admitted = await h.admit(person, begin=today() - timedelta(days=1))
    assert admitted.trtinfo.allowed
    moved = await _call(
        h,
        "ChangeAdmission",
        pb.ChangeAdmissionRequest,
        person,
        admitted.mdtrt_id,
        begntime=(today() - timedelta(days=10)).isoformat(),
    )
    # Before the filing's start: the stay is no longer covered on that date.
    assert not moved.trtinfo.allowed
    assert not (await _encounter(settlement_db, admitted.mdtrt_id))["coverage_allowed"]
