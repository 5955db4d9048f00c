"""5205 a person's chronic-disease drug records, through the real gRPC path.

A Nanning diabetic settles chronic visits at two Guangzhou hospitals. The hospital
treating them sees the drug lines of both settled visits (not the service lines, not an
unsettled or reversed visit's), in fee-date order, paged; a hospital not treating them
is refused; bad filters and tokens name their field.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import grpc

from shared.grpc_client import caller_metadata
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb

from .support import (
    CALL_TIMEOUT_S,
    CONSULTATION,
    GUANGZHOU_HOSPITALS,
    NANNING,
    SHENZHEN_HOSPITAL,
    Filing,
    Hospital,
    fee,
    fields,
    row_counts,
    rpc_error,
    today,
)

METFORMIN, LIRAGLUTIDE = "X01001", "X01010"


def _drug(line_no: int, code: str, price_fen: int, units: int, day_offset: int) -> pb.FeeDetail:
    return pb.FeeDetail(
        feedetl_sn=line_no,
        med_list_codg=code,
        fee_ocur_time=(today() - timedelta(days=day_offset)).isoformat(),
        cnt_e4=units * 10_000,
        pric_fen=price_fen,
        det_item_fee_sumamt_fen=price_fen * units,
    )


async def _diabetic(filing: Filing) -> filing_pb2.Person:
    person = await filing.new_person(NANNING)
    await filing.file(person, province_code="44", start=today() - timedelta(days=40))
    await filing.stub.CertifyChronicDisease(
        filing_pb2.CertifyChronicDiseaseRequest(
            channel_request_id=f"cert-{secrets.token_hex(8)}",
            psn_no=person.psn_no,
            disease_code="M01600",
            valid_from_date=(today() - timedelta(days=60)).isoformat(),
        ),
        metadata=caller_metadata(NANNING),
        timeout=CALL_TIMEOUT_S,
    )
    return person


async def _chronic_visit(
    h: Hospital, person: filing_pb2.Person, lines: list[pb.FeeDetail], begin_offset: int
) -> tuple[str, int]:
    registered = await h.register(
        person,
        begin=today() - timedelta(days=begin_offset),
        med_type=common_pb2.MED_TYPE_CHRONIC_OUTPATIENT,
        dise_codg="M01600",
    )
    total = (await h.upload(person, registered.mdtrt_id, lines)).medfee_sumamt_fen
    return registered.mdtrt_id, total


def _query(
    h: Hospital, person: filing_pb2.Person, page_size: int = 0, token: str = "", **more: str
) -> pb.QueryChronicDrugRecordsRequest:
    return pb.QueryChronicDrugRecordsRequest(
        header=h.header(person.insured_pool),
        psn_no=person.psn_no,
        page=common_pb2.PageRequest(page_size=page_size, page_token=token),
        **more,
    )


async def test_the_treating_hospital_sees_the_drug_lines_of_settled_chronic_visits(
    hospital: Callable[[str], Hospital], filing: Filing, settlement_db: asyncpg.Pool
) -> None:
    person = await _diabetic(filing)
    first, second = hospital(GUANGZHOU_HOSPITALS[0]), hospital(GUANGZHOU_HOSPITALS[1])

    # Visit 1 at the first hospital, 10 days ago: metformin + liraglutide + a consultation.
    one, total = await _chronic_visit(
        first,
        person,
        [
            _drug(1, METFORMIN, 5, 60, 10),
            _drug(2, LIRAGLUTIDE, 20000, 2, 10),
            fee(3, CONSULTATION, "44", day=today() - timedelta(days=10)),
        ],
        10,
    )
    await first.settle(person, one, total)
    # Visit 2 at the second hospital, 3 days ago: metformin only.
    two, total = await _chronic_visit(second, person, [_drug(1, METFORMIN, 5, 90, 3)], 3)
    await second.settle(person, two, total)
    # Visit 3, settled then reversed; visit 4, never settled: neither is listed.
    three, total = await _chronic_visit(second, person, [_drug(1, METFORMIN, 5, 30, 2)], 2)
    settled = await second.settle(person, three, total)
    await second.reverse(person, settled.setlinfo)
    await _chronic_visit(first, person, [_drug(1, METFORMIN, 5, 30, 1)], 1)

    answer = await first.call("QueryChronicDrugRecords", _query(first, person))
    got = [
        (r.mdtrt_id, r.feedetl_sn, r.med_list_codg, r.cnt_e4, r.det_item_fee_sumamt_fen)
        for r in answer.records
    ]
    assert got == [
        (one, 1, METFORMIN, 600_000, 300),
        (one, 2, LIRAGLUTIDE, 20_000, 40_000),
        (two, 1, METFORMIN, 900_000, 450),
    ]
    assert answer.next_page_token == ""
    r = answer.records[1]
    assert (r.fixmedins_code, r.dise_codg, r.med_list_name) == (
        GUANGZHOU_HOSPITALS[0], "M01600", "利拉鲁肽注射液(3ml:18mg)",
    )  # fmt: skip
    assert r.fixmedins_name and r.setl_id
    assert r.fee_ocur_time == (today() - timedelta(days=10)).isoformat()

    # Paged one by one: the same rows, each once, in order.
    paged, token = [], ""
    for _ in range(5):
        page = await first.call("QueryChronicDrugRecords", _query(first, person, 1, token))
        paged += [(x.mdtrt_id, x.feedetl_sn) for x in page.records]
        token = page.next_page_token
        if not token:
            break
    assert paged == [(g[0], g[1]) for g in got]
    # Filters: a date range and the disease (its legacy alias too).
    since = (today() - timedelta(days=5)).isoformat()
    recent = await first.call("QueryChronicDrugRecords", _query(first, person, begndate=since))
    assert [x.mdtrt_id for x in recent.records] == [two]
    by_alias = await first.call("QueryChronicDrugRecords", _query(first, person, dise_codg="MT02"))
    assert len(by_alias.records) == 3
    other_disease = await first.call(
        "QueryChronicDrugRecords", _query(first, person, dise_codg="M03900")
    )
    assert list(other_disease.records) == []

    # A hospital not treating the person is refused; bad input names its field.
    stranger = hospital(SHENZHEN_HOSPITAL)
    before = await row_counts(settlement_db)
    denied = await rpc_error(stranger.call("QueryChronicDrugRecords", _query(stranger, person)))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    for bad, field in [
        (_query(first, person, dise_codg="MT99"), "dise_codg"),
        (_query(first, person, token="bm90LWEtdG9rZW4"), "page.page_token"),
        (_query(first, person, begndate="2026/01/01"), "begndate"),
        (_query(first, person, page_size=-1), "page.page_size"),
    ]:
        error = await rpc_error(first.call("QueryChronicDrugRecords", bad))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert fields(error) == [field]
    assert await row_counts(settlement_db) == before
