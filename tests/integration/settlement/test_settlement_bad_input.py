"""Bad input and refused transitions: a clear gRPC error naming the field or the rule, and
not one row written anywhere (the request's single transaction rolled back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc

from services.settlement.domain.bill import MAX_LINES_PER_BILL
from services.settlement.domain.encounter import MAX_LINES_PER_UPLOAD
from shared.grpc_client import caller_metadata
from shared.grpc_errors import details_of, error_info_of, localized_of
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    CONSULTATION,
    INFUSION,
    NANNING,
    NANNING_HOSPITALS,
    Filing,
    Hospital,
    fee,
    fields,
    reason,
    row_counts,
    rpc_error,
    today,
)


async def refused(db: asyncpg.Pool, call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The call's error, after checking that it wrote nothing."""
    before = await row_counts(db)
    error = await rpc_error(call)
    assert await row_counts(db) == before, error.details()
    return error


async def test_bad_fee_lines_name_the_field_and_write_nothing(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.register(person)).mdtrt_id

    def line(**changes: Any) -> pb.FeeDetail:
        detail = fee(1, CONSULTATION, "45")
        for name, value in changes.items():
            setattr(detail, name, value)
        return detail

    cases = {
        "feedetail[0].med_list_codg": line(med_list_codg="X99999"),
        "feedetail[0].cnt_e4": line(cnt_e4=-10_000),
        "feedetail[0].pric_fen": line(pric_fen=-1500),
    }
    absurd = line(cnt_e4=10**12, pric_fen=10**11)
    for field, bad in cases.items():
        error = await refused(settlement_db, h.upload(person, mdtrt_id, [bad]))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in fields(error), (field, fields(error))
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [absurd]))
    assert {"feedetail[0].cnt_e4", "feedetail[0].pric_fen"} <= set(fields(error))
    wrong_amount = line(det_item_fee_sumamt_fen=1501)
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [wrong_amount]))
    assert fields(error) == ["feedetail[0].det_item_fee_sumamt_fen"]
    early = line(fee_ocur_time=(today() - timedelta(days=1)).isoformat())
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [early]))
    assert fields(error) == ["feedetail[0].fee_ocur_time"]
    # One bad line among good ones refuses the whole upload.
    mixed = [fee(1, CONSULTATION, "45"), line(feedetl_sn=2, med_list_codg="NOPE")]
    error = await refused(settlement_db, h.upload(person, mdtrt_id, mixed))
    assert fields(error) == ["feedetail[1].med_list_codg"]


async def test_bills_over_the_size_limits_are_refused(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    mdtrt_id = (await h.admit(person)).mdtrt_id
    too_many = [fee(n, INFUSION, "45") for n in range(1, MAX_LINES_PER_UPLOAD + 2)]
    error = await refused(settlement_db, h.upload(person, mdtrt_id, too_many))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fields(error) == ["feedetail"]
    for start in range(1, MAX_LINES_PER_BILL + 1, MAX_LINES_PER_UPLOAD):
        batch = [fee(n, INFUSION, "45") for n in range(start, start + MAX_LINES_PER_UPLOAD)]
        await h.upload(person, mdtrt_id, batch)
    one_more = [fee(MAX_LINES_PER_BILL + 1, INFUSION, "45")]
    error = await refused(settlement_db, h.upload(person, mdtrt_id, one_more))
    assert fields(error) == ["feedetail"] and "at most 2000" in error.details()
    # A standing line number is not uploaded twice.
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [fee(7, INFUSION, "45")]))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_bad_envelopes_and_dates_are_refused(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    good = h.header(NANNING).msgid
    bad_msgids = [
        good[:-1],  # 29 characters
        good[:12] + "20261399120000" + "0001",  # month 13
        "X" + good[1:],  # not an institution code
        good[:12] + "abcdefghijklmn0001",
    ]
    for msgid in bad_msgids:
        request = pb.RegisterRequest(
            header=h.header(NANNING, msgid),
            psn_no=person.psn_no,
            insutype=person.insutype,
            med_type=11,  # type: ignore[arg-type]
            begntime=today().isoformat(),
            ipt_otp_no="OP1",
        )
        error = await refused(settlement_db, h.call("Register", request))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, msgid
        assert fields(error) == ["header.msgid"], msgid

    for begntime in ("2026-02-30", (today() + timedelta(days=1)).isoformat(), "yesterday"):
        request = pb.RegisterRequest(
            header=h.header(NANNING),
            psn_no=person.psn_no,
            insutype=person.insutype,
            med_type=11,  # type: ignore[arg-type]
            begntime=begntime,
            ipt_otp_no="OP1",
        )
        error = await refused(settlement_db, h.call("Register", request))
        assert fields(error) == ["begntime"], begntime

    error = await refused(
        settlement_db,
        h.call(
            "ReconcileTotals",
            pb.ReconcileTotalsRequest(
                header=h.header(), stmt_begndate="2026-03-10", stmt_enddate="2026-03-01"
            ),
        ),
    )
    assert fields(error) == ["stmt_enddate"]
    # The caller's code must open the msgid.
    other = hospital(NANNING_HOSPITALS[1])
    error = await refused(settlement_db, other.call("Register", pb.RegisterRequest(
        header=h.header(NANNING), psn_no=person.psn_no, insutype=person.insutype,
        med_type=11, begntime=today().isoformat(), ipt_otp_no="OP1",  # type: ignore[arg-type]
    )))  # fmt: skip
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_settling_twice_and_reversing_twice_are_refused_with_their_rule(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[1])
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, CONSULTATION, "45")])
    wrong_total = await refused(settlement_db, h.settle(person, mdtrt_id, total_fen + 1))
    assert fields(wrong_total) == ["medfee_sumamt_fen"]
    info = (await h.settle(person, mdtrt_id, total_fen)).setlinfo

    twice = await refused(settlement_db, h.settle(person, mdtrt_id, total_fen))
    assert twice.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(twice) == "ENCOUNTER_ALREADY_SETTLED"
    upload = await refused(settlement_db, h.upload(person, mdtrt_id, [fee(2, CONSULTATION, "45")]))
    assert reason(upload) == "ENCOUNTER_ALREADY_SETTLED"

    reversal = (await h.reverse(person, info)).setlinfo
    again = await refused(settlement_db, h.reverse(person, info))
    assert again.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason(again) == "SETTLEMENT_ALREADY_REVERSED"
    of_reversal = await refused(settlement_db, h.reverse(person, reversal))
    assert reason(of_reversal) == "NOT_A_SETTLEMENT"
    unknown = await refused(
        settlement_db,
        h.call("QuerySettlement", pb.QuerySettlementRequest(header=h.header(), setl_id="S0")),
    )
    assert unknown.code() is grpc.StatusCode.NOT_FOUND


def _trailers_size(error: grpc.aio.AioRpcError) -> int:
    """Bytes of the trailing metadata as sent (binary values travel base64-encoded)."""
    total = len((error.details() or "").encode())
    for key, value in error.trailing_metadata() or ():
        raw = value if isinstance(value, bytes) else value.encode()
        total += len(key) + (len(raw) * 4 // 3 if key.endswith("-bin") else len(raw))
    return total


async def test_hostile_input_gets_invalid_argument_within_the_metadata_limit(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.register(person)).mdtrt_id
    hostile = []
    for n in range(1, MAX_LINES_PER_UPLOAD + 1):
        line = fee(n, CONSULTATION, "45")
        line.cnt_e4 = 10**15
        line.med_list_codg = "X" * 5_000
        hostile.append(line)
    error = await refused(settlement_db, h.upload(person, mdtrt_id, hostile))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _trailers_size(error) < 8 * 1024 // 2, _trailers_size(error)
    assert fields(error)[0].startswith("feedetail[0].")
    assert "X" * 200 not in str(error.trailing_metadata())  # echoed values are cut
    # A 5,000-character field in the header.
    long_msgid = await refused(
        settlement_db,
        h.call(
            "QuerySettlement",
            pb.QuerySettlementRequest(header=h.header(NANNING, "H" * 5_000), setl_id="S" * 5_000),
        ),
    )
    assert long_msgid.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _trailers_size(long_msgid) < 8 * 1024 // 2


async def test_undecodable_bytes_are_invalid_argument_naming_the_message(
    settlement_channel: grpc.aio.Channel,
    hospital: Callable[[str], Hospital],
    settlement_db: asyncpg.Pool,
) -> None:
    h = hospital(NANNING_HOSPITALS[0])
    settle = settlement_channel.unary_unary("/crossclear.settlement.v1.SettlementService/Settle")
    # A truncated length prefix; a string field (header.msgid) holding invalid UTF-8.
    for raw in (b"\x0a\xff", b"\x0a\x04\x0a\x02\xff\xfe"):
        before = await row_counts(settlement_db)
        try:
            await settle(raw, metadata=caller_metadata(h.code), timeout=5)
            raise AssertionError(f"{raw!r} was accepted")
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, (raw, error)
            assert "crossclear.settlement.v1.SettleRequest" in (error.details() or "")
        assert await row_counts(settlement_db) == before


async def test_errors_speak_the_national_names_and_chinese(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await filing.new_person(NANNING)
    h = hospital(NANNING_HOSPITALS[0])
    mdtrt_id = (await h.register(person)).mdtrt_id
    # Two boxes sent as cnt_e4=2 (whole units) with the amount of two boxes: the quantity
    # field is the one to fix, not the amount.
    in_units = fee(1, CONSULTATION, "45")
    in_units.cnt_e4 = 2
    in_units.det_item_fee_sumamt_fen = 2 * in_units.pric_fen
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [in_units]))
    assert fields(error) == ["feedetail[0].cnt_e4"]
    assert "cnt_e4 is the quantity × 10000" in (error.details() or "")
    wrong = fee(1, CONSULTATION, "45")
    wrong.det_item_fee_sumamt_fen += 1
    error = await refused(settlement_db, h.upload(person, mdtrt_id, [wrong]))
    status = details_of(error)
    assert status is not None
    described = str(status)
    assert "pric_fen × cnt_e4" in described and "unit_price_fen" not in described
    assert (
        localized_of(error)
        == "请求参数有误：feedetail[0].det_item_fee_sumamt_fen（逐项说明见 BadRequest）"
    )
    info = error_info_of(error)
    trailers = {key: value for key, value in error.trailing_metadata() or ()}
    assert info is not None and info.metadata["request_id"] == trailers["x-request-id"]
