"""Query RPCs: 5203, 5201/5204/5206/5205 and reconciliation 3201/3202."""

from __future__ import annotations

import grpc

from services.settlement import chronic_drugs
from services.settlement import national_codes as codes
from services.settlement.domain.codes import VisitType
from services.settlement.domain.inputs import check_id
from services.settlement.domain.reconcile import (
    RECORDS_MAX,
    Totals,
    check_records,
)
from services.settlement.handlers.commands import (
    AboutPerson,
    OnSettlement,
    PersonPage,
    QueryChronicDrugs,
    QueryFeeLines,
    Reconcile,
)
from services.settlement.servicer.core import ServicerCore
from services.settlement.servicer.readers import (
    drug_records_after,
    drug_records_token,
    int_key,
    next_token,
    page_after,
    page_size_of,
    record_of_pb,
    text_key,
)
from services.settlement.servicer.writers import (
    accumulations_response,
    details_response,
    drug_record,
    encounter_info,
    setldetail,
    setlinfo,
    totals_pb,
)
from shared.auth import caller
from shared.errors import Violations
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb


class QueryRpcs(ServicerCore):
    """The read-only RPCs."""

    # -- 5203 -----------------------------------------------------------------------------

    async def QuerySettlement(
        self, request: pb.QuerySettlementRequest, context: grpc.aio.ServicerContext
    ) -> pb.QuerySettlementResponse:
        errors = Violations()
        header = self._header(request.header, errors, person=False)
        check_id(request.setl_id, "setl_id", errors)
        if request.mdtrt_id:
            check_id(request.mdtrt_id, "mdtrt_id", errors)
        errors.raise_if_any()
        assert header is not None
        query = OnSettlement(header, request.setl_id, request.mdtrt_id, request.psn_no)
        record = await self._service.query_settlement(query, caller())
        state = (
            pb.SETTLEMENT_STATE_REVERSAL
            if record.is_reversal
            else pb.SETTLEMENT_STATE_REVERSED
            if record.reversed_by_setl_id
            else pb.SETTLEMENT_STATE_SETTLED
        )
        return pb.QuerySettlementResponse(
            setlinfo=setlinfo(record),
            setldetail=setldetail(record.details),
            state=state,
            reversed_by_setl_id=record.reversed_by_setl_id or "",
        )

    # -- 5201 / 5204 / 5205 / 5206 --------------------------------------------------------

    async def QueryChronicDrugRecords(
        self, request: pb.QueryChronicDrugRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryChronicDrugRecordsResponse:
        errors = Violations()
        header, begin, end = self._person_days_request(request, errors)
        disease = None
        if request.dise_codg:
            read = codes.read_disease(request.dise_codg, VisitType.CHRONIC_OUTPATIENT, errors)
            disease = read.value if read else None
        if request.page.page_size < 0:
            errors.add("page.page_size", "must not be negative")
        after = drug_records_after(request.page.page_token, errors)
        errors.raise_if_any()
        assert header is not None
        limit = min(
            request.page.page_size or chronic_drugs.DEFAULT_PAGE_SIZE, chronic_drugs.MAX_PAGE_SIZE
        )
        query = QueryChronicDrugs(header, request.psn_no, begin, end, after, limit, disease)
        page = await chronic_drugs.query(self._service, query, caller())
        return pb.QueryChronicDrugRecordsResponse(
            psn_no=request.psn_no,
            records=[drug_record(r) for r in page.records],
            next_page_token=drug_records_token(page.next_after),
        )

    async def QueryEncounters(
        self, request: pb.QueryEncountersRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryEncountersResponse:
        header, begin, end = self._person_days(request)
        limit = page_size_of(request.page)
        after = text_key(page_after(request.page))
        if after is not None:
            errors = Violations()
            check_id(after, "page.page_token", errors)
            errors.raise_if_any()
        query = PersonPage(header, request.psn_no, begin, end, after, limit)
        rows = await self._service.query_encounters(query, caller())
        return pb.QueryEncountersResponse(
            mdtrtinfo=[encounter_info(r) for r in rows],
            next_page_token=next_token(rows, limit, rows[-1].encounter.mdtrt_id if rows else None),
        )

    async def QueryFeeDetails(
        self, request: pb.QueryFeeDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryFeeDetailsResponse:
        header = self._encounter_header(request)
        limit = page_size_of(request.page)
        after = int_key(page_after(request.page))
        query = QueryFeeLines(header, request.mdtrt_id, request.psn_no, after, limit)
        page = await self._service.query_fee_lines(query, caller())
        lines = page.lines
        return pb.QueryFeeDetailsResponse(
            feedetail=[
                pb.FeeDetailRecord(
                    feedetl_sn=s.line.line_no,
                    med_list_codg=s.line.item_code,
                    fee_ocur_time=s.line.fee_date.isoformat(),
                    cnt_e4=s.line.quantity_e4,
                    pric_fen=s.line.unit_price_fen,
                    det_item_fee_sumamt_fen=s.line.amount_fen,
                    upload_msgid=s.upload_msgid,
                )
                for s in lines
            ],
            next_page_token=next_token(lines, limit, lines[-1].line.line_no if lines else None),
            line_count=page.encounter.encounter.line_count,
            medfee_sumamt_fen=page.encounter.line_amount_fen,
        )

    async def QueryAccumulations(
        self, request: pb.QueryAccumulationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.QueryAccumulationsResponse:
        errors = Violations()
        header = self._person_request(request, errors)
        errors.raise_if_any()
        assert header is not None
        year = await self._service.query_accumulations(
            AboutPerson(header, request.psn_no), caller()
        )
        return accumulations_response(year)

    # -- 3201 / 3202 ----------------------------------------------------------------------

    async def ReconcileTotals(
        self, request: pb.ReconcileTotalsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileTotalsResponse:
        header, begin, end = self._range(request)
        t = request.totals
        theirs = Totals(
            t.medfee_sumamt_fen, t.fund_pay_sumamt_fen, t.acct_pay_fen, t.fixmedins_setl_cnt
        )
        query = Reconcile(header, begin, end, theirs)
        outcome = await self._service.reconcile_totals(query, caller())
        return pb.ReconcileTotalsResponse(
            stmt_rslt=(
                pb.RECONCILE_RESULT_MISMATCH
                if outcome.differing_fields
                else pb.RECONCILE_RESULT_MATCH
            ),
            ours=totals_pb(outcome.ours),
            theirs=totals_pb(outcome.theirs),
            differing_fields=list(outcome.differing_fields),
        )

    async def ReconcileDetails(
        self, request: pb.ReconcileDetailsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReconcileDetailsResponse:
        errors = Violations()
        header, begin, end = self._range_request(request, errors)
        errors.check(
            len(request.records) <= RECORDS_MAX,
            "records",
            f"at most {RECORDS_MAX} records per request",
        )
        errors.raise_if_any()
        theirs = tuple(record_of_pb(r) for r in request.records)
        check_records(theirs, errors)
        errors.raise_if_any()
        assert header is not None and begin is not None and end is not None
        query = Reconcile(header, begin, end, theirs)
        outcome = await self._service.reconcile_details(query, caller())
        return details_response(outcome)
