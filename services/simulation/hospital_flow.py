"""One encounter at one hospital, as the hospital sends it: identify the patient (1101),
register (2201) or admit (2401), upload fee lines (2204/2301), discharge (2402), pre-settle
and settle — with now and then a resent msgid — and on a later day reverse (2208/2305) or
correct (2601); a refusal is handled as a hospital does (the patient files at the counter
and the hospital settles again, or the patient pays in full). Every msgid comes from the
plan."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from services.simulation.scenario import (
    Encounter,
    FilingTiming,
    PersonPlan,
    Refusal,
    Visit,
    relation_of,
)
from services.simulation.settlement_info import china_day, disagreement, fund_amounts, negated
from services.simulation.tally import CapHit, SettlementRecord
from shared.grpc_errors import reason_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.settlement.v1 import settlement_pb2

if TYPE_CHECKING:
    from services.simulation.traffic import Traffic


_RESUBMIT_LIMIT = 3  # pre-settle attempts per encounter (first, after filing, spare)
# The basis of a visit not covered (yet) when it was opened: the service answers the enum's
# unset value, which is recorded under this name (never as "UNSPECIFIED").
NOT_COVERED = "NOT_COVERED"
NO_REASON = "NO_REASON_CODE"  # a refusal whose status carried no reason code
# "…; M07803 cap left 1,234.00 → paid 1,234.00": the basic fund was cut by that cap.
_CAP_CUT = re.compile(r"; (?P<label>[^;]+?) cap left -?[\d,]+\.\d\d → paid")
# A request on the open visit, which names the visit and the patient.
_OnVisit = TypeVar(
    "_OnVisit",
    settlement_pb2.UploadFeeDetailsRequest,
    settlement_pb2.DischargeRequest,
    settlement_pb2.PreSettleRequest,
)


class EncounterFailed(Exception):
    """An unexpected error: recorded in the tally; the person's next step goes on."""


def _relation_name(value: int) -> str:
    """LOCAL / IN_PROVINCE / CROSS_PROVINCE; "" when the service left the field unset, so
    that the caller's own relation (from the reference geography) is used instead."""
    if value == common_pb2.RELATION_UNSPECIFIED:
        return ""
    return common_pb2.Relation.Name(value).removeprefix("RELATION_")  # type: ignore[arg-type]


def _basis_name(enum: object, value: int) -> str:
    """A coverage basis as recorded in the tally: the unset value is NOT_COVERED."""
    name = str(enum.Name(value)).removeprefix("COVERAGE_BASIS_")  # type: ignore[attr-defined]
    return NOT_COVERED if name == "UNSPECIFIED" else name


def cap_label(setl_proc_info: str) -> str | None:
    """Which annual cap cut a fund's payment, from its computation text; None if none did."""
    found = _CAP_CUT.search(setl_proc_info)
    if found is None:
        return None
    label = found.group("label").strip()
    return "basic annual cap" if label == "annual" else f"{label} annual cap"


@dataclass
class EncounterState:
    """What one encounter's earlier steps left for its later ones."""

    mdtrt_id: str = ""
    relation: str = ""
    basis_open: str = ""
    settle_msgid: str = ""  # the msgid of the standing settlement
    settled: settlement_pb2.SettleResponse | None = None  # its answer: setlinfo, setldetail


@dataclass
class PersonState:
    filing_id: str = ""  # the person's filing once submitted (planned or 补办)
    filed_afterwards: bool = False
    encounters: dict[int, EncounterState] = field(default_factory=dict)


class HospitalFlow:
    """One encounter at one hospital, one step of it at a time, with its msgids from the
    plan: admission (inpatients), the visit or discharge and its settlement, and on a later
    day the reversal or correction."""

    def __init__(self, traffic: Traffic, p: PersonPlan, e: Encounter, state: EncounterState):
        self.t = traffic
        self.c = traffic.clients
        self.tally = traffic.tally
        self.p = p
        self.e = e
        self.s = state
        self.ids: Iterator[str] = iter(())
        self.step = "QueryPerson"
        self.relation = state.relation or relation_of(p.insured_pool, e.treatment_pool)
        self.inpatient = e.visit is Visit.INPATIENT

    # -- envelope -------------------------------------------------------------------------

    def _header(self, msgid: str, *, person: bool = True) -> settlement_pb2.RequestHeader:
        return settlement_pb2.RequestHeader(
            msgid=msgid,
            mdtrtarea_admvs=self.e.treatment_pool,
            insuplc_admdvs=self.p.insured_pool if person else "",
            opter_type=(
                settlement_pb2.OPERATOR_TYPE_MOBILE
                if self.e.query_by_voucher and self._voucher()
                else settlement_pb2.OPERATOR_TYPE_CLERK
            ),
        )

    def _voucher(self) -> str | None:
        return next((d.number for d in self.p.documents if d.doc_type == "E_VOUCHER"), None)

    def _certificate(self) -> tuple[int, str]:
        voucher = self._voucher()
        if self.e.query_by_voucher and voucher:
            return settlement_pb2.CERT_TYPE_E_VOUCHER, voucher
        card = next(d.number for d in self.p.documents if d.doc_type != "E_VOUCHER")
        return settlement_pb2.CERT_TYPE_RESIDENT_ID, card

    def _next(self) -> str:
        try:
            return next(self.ids)
        except StopIteration:
            raise EncounterFailed("the plan reserved too few msgids") from None

    async def _hospital(self, method: object, request: object) -> object:
        return await self.c.call(method, request, self.e.hospital)  # type: ignore[arg-type]

    def _on_visit(self, request: _OnVisit) -> _OnVisit:
        """``request`` as a call on the open visit: a fresh msgid, the visit's and the
        patient's ids."""
        request.header.CopyFrom(self._header(self._next()))
        request.mdtrt_id = self.s.mdtrt_id
        request.psn_no = self.p.psn_no
        return request

    # -- the steps ----------------------------------------------------------------------------

    async def admit(self) -> None:
        """Admission day: identify the patient and admit."""
        self.ids = iter(self.e.admit_msgids)
        await self._identify()
        await self._open()

    async def settle(self) -> None:
        """Visit or discharge day: bill, pre-settle, settle (handling a refusal)."""
        if self.inpatient:
            if not self.s.mdtrt_id:
                raise EncounterFailed("the admission failed: nothing to discharge")
        else:
            self.ids = iter(self.e.admit_msgids)
            await self._identify()
            await self._open()
        self.ids = iter(self.e.settle_msgids)
        await self._upload()
        if self.inpatient:
            await self._discharge()
        refused = False
        for _attempt in range(_RESUBMIT_LIMIT):
            refusal = await self._presettle()
            if refusal is None:
                break
            self.tally.refusals[refusal] += 1
            refused = True
            person = self.t.state(self.p)
            if self.p.refusal is Refusal.FILE_AFTERWARDS and not person.filed_afterwards:
                await self._file_afterwards()
                person.filed_afterwards = True
                continue
            self.tally.paid_in_full_fen += self.e.amount_fen
            self.tally.counts["encounters paid in full after a refusal"] += 1
            self.t.outcome(self.p, self.e, "PAID_IN_FULL", self.relation, basis="REFUSED")
            return
        else:
            raise EncounterFailed("still refused after filing")
        msgid, reply = await self._settle()
        if self.e.retry_settle:
            await self._resend(msgid, reply)
        info = reply.setlinfo
        relation = _relation_name(info.relation) or self.relation
        basis = await self._basis_at_settlement()
        outcome = "DIRECT_AFTER_FILING" if refused else "DIRECT"
        self.t.outcome(self.p, self.e, outcome, relation, period=info.clr_ym, basis=basis)

    async def later(self) -> None:
        """A later day: the hospital reverses the settlement, or corrects (2601) a Settle
        whose response it never received, and settles the visit again."""
        if self.s.settled is None:
            return  # not settled directly (refused and paid in full, or failed)
        self.ids = iter(self.e.later_msgids)
        if self.e.correct:
            if self.e.seq % 3 == 0:
                await self._tombstone()
            else:
                await self._correct(self.s.settle_msgid)
                await self._settle_again()
        if self.e.reverse:
            await self._reverse(self.s.settled.setlinfo)
            await self._settle_again()

    # -- the calls ----------------------------------------------------------------------------

    async def _identify(self) -> None:
        self.step = "QueryPerson"
        cert_type, cert_no = self._certificate()
        reply = await self._hospital(
            self.c.settlement.QueryPerson,
            settlement_pb2.QueryPersonRequest(
                header=self._header(self._next(), person=False),
                mdtrt_cert_type=cert_type,  # type: ignore[arg-type]
                mdtrt_cert_no=cert_no,
                med_type=common_pb2.MedType.ValueType(int(self.e.visit.value)),
                emergency=self.e.emergency,
            ),
        )
        if reply.baseinfo.psn_no != self.p.psn_no:  # type: ignore[attr-defined]
            raise EncounterFailed("1101 returned another person")
        if not reply.trtinfo.allowed:  # type: ignore[attr-defined]
            self.tally.counts["1101 benefit checks answering not covered"] += 1

    async def _open(self) -> None:
        cert_type, cert_no = self._certificate()
        number = f"{self.e.start:%y%m%d}{self.p.index:06d}{self.e.seq:02d}"
        self.step = "Admit" if self.inpatient else "Register"
        # What an admission (2401) and a registration (2201) both carry.
        common: dict[str, Any] = {
            "header": self._header(self._next()),
            "psn_no": self.p.psn_no,
            "insutype": common_pb2.InsuranceType.ValueType(int(self.p.insutype)),
            "begntime": self.e.start.strftime("%Y-%m-%d %H:%M:%S"),
            "mdtrt_cert_type": cert_type,
            "mdtrt_cert_no": cert_no,
            "emergency": self.e.emergency,
        }
        if self.inpatient:
            reply = await self._hospital(
                self.c.settlement.Admit,
                settlement_pb2.AdmitRequest(**common, ipt_no=f"ZY{number}"),
            )
        else:
            reply = await self._hospital(
                self.c.settlement.Register,
                settlement_pb2.RegisterRequest(
                    **common,
                    med_type=common_pb2.MedType.ValueType(int(self.e.visit.value)),
                    ipt_otp_no=f"MZ{number}",
                    dise_codg=self.e.disease or "",
                ),
            )
        self.s.mdtrt_id = str(reply.mdtrt_id)  # type: ignore[attr-defined]
        self.s.relation = self.relation
        self.s.basis_open = _basis_name(
            settlement_pb2.CoverageBasis,
            reply.trtinfo.basis,  # type: ignore[attr-defined]
        )
        self.tally.bases[self.s.basis_open] += 1

    async def _upload(self) -> None:
        self.step = "UploadFeeDetails"
        day = self.e.start.date()
        fees = [
            settlement_pb2.FeeDetail(
                feedetl_sn=line.line_no,
                med_list_codg=line.item_code,
                fee_ocur_time=_fee_day(day, self.e, line.line_no).isoformat(),
                cnt_e4=line.quantity_e4,
                pric_fen=line.unit_price_fen,
                det_item_fee_sumamt_fen=line.amount_fen,
            )
            for line in self.e.lines
        ]
        reply = await self._hospital(
            self.c.settlement.UploadFeeDetails,
            self._on_visit(settlement_pb2.UploadFeeDetailsRequest(feedetail=fees)),
        )
        if reply.medfee_sumamt_fen != self.e.amount_fen:  # type: ignore[attr-defined]
            raise EncounterFailed("the service's bill total differs from the hospital's")

    async def _discharge(self) -> None:
        self.step = "Discharge"
        await self._hospital(
            self.c.settlement.Discharge,
            self._on_visit(settlement_pb2.DischargeRequest(endtime=self.e.end.date().isoformat())),
        )

    async def _presettle(self) -> str | None:
        """None when the visit may settle; else the refusal's reason code."""
        self.step = "PreSettle"
        try:
            reply = await self._hospital(
                self.c.settlement.PreSettle,
                self._on_visit(settlement_pb2.PreSettleRequest(acct_used_flag=self.e.use_account)),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                return reason_of(error) or NO_REASON
            raise
        for warning in reply.warnings:  # type: ignore[attr-defined]
            self.tally.warnings[warning.code] += 1
        return None

    async def _file_afterwards(self) -> None:
        """补办: the patient files at the counter, the filing starting on the visit day."""
        self.step = "SubmitFiling (补办)"
        f = self.p.filing
        if f is not None and f.timing is FilingTiming.AFTER_REFUSAL:
            await self.t.submit_filing(self.p, f)  # the planned filing, made late
        else:
            request = filing_pb2.SubmitFilingRequest(
                channel=filing_pb2.CHANNEL_COUNTER,
                channel_request_id=f"SIM-{self.p.psn_no}-R{self.e.seq}",
                psn_no=self.p.psn_no,
                category=filing_pb2.FILING_CATEGORY_OTHER_TEMPORARY,
                destination=filing_pb2.Destination(pool_code=self.e.treatment_pool),
                start_date=self.e.start.date().isoformat(),
                commitment_accepted=True,
            )
            reply = await self.c.call(self.c.filing.SubmitFiling, request, "channel-counter")
            self.t.state(self.p).filing_id = str(reply.filing.filing_id)
            self.tally.counts["filings submitted"] += 1
            self.tally.filings_by_channel["COUNTER"] += 1
            self.tally.filings_by_timing[FilingTiming.AFTER_REFUSAL.value] += 1
            if reply.retroactive:
                self.tally.counts["filings starting before their submission day"] += 1
        self.tally.counts["filed after a refusal (补办)"] += 1

    async def _basis_at_settlement(self) -> str:
        """The coverage basis the settlement stood on. It is the one the registration or
        admission answered, unless the visit was not covered then and a filing made since
        (补办) covers it: the insured pool's agency asks the filing service (CheckCoverage)
        for the treatment day."""
        if self.s.basis_open != NOT_COVERED:
            return self.s.basis_open
        self.step = "CheckCoverage"
        reply = await self.c.call(
            self.c.filing.CheckCoverage,
            filing_pb2.CheckCoverageRequest(
                psn_no=self.p.psn_no,
                treatment_pool=self.e.treatment_pool,
                treatment_date=self.e.start.date().isoformat(),
                med_type=common_pb2.MedType.ValueType(int(self.e.visit.value)),
                emergency=self.e.emergency,
                hospital_code=self.e.hospital,
            ),
            self.p.insured_pool,
        )
        return _basis_name(filing_pb2.CoverageBasis, reply.basis)

    def _settle_request(self, msgid: str) -> settlement_pb2.SettleRequest:
        return settlement_pb2.SettleRequest(
            header=self._header(msgid),
            mdtrt_id=self.s.mdtrt_id,
            psn_no=self.p.psn_no,
            acct_used_flag=self.e.use_account,
            medfee_sumamt_fen=self.e.amount_fen,
        )

    async def _settle(self) -> tuple[str, settlement_pb2.SettleResponse]:
        self.step = "Settle"
        msgid = self._next()
        started = time.perf_counter()
        reply = await self._hospital(self.c.settlement.Settle, self._settle_request(msgid))
        assert isinstance(reply, settlement_pb2.SettleResponse)
        self.tally.settle_latencies_ms.append(
            (reply.setlinfo.clr_ym, (time.perf_counter() - started) * 1000)
        )
        self._record(reply.setlinfo, reply.setldetail, reversal=False)
        self._caps(reply)
        self.s.settle_msgid = msgid
        self.s.settled = reply
        return msgid, reply

    async def _settle_again(self) -> None:
        refusal = await self._presettle()
        if refusal is not None:
            raise EncounterFailed(f"refused on the second settlement: {refusal}")
        await self._settle()

    async def _resend(self, msgid: str, first: settlement_pb2.SettleResponse) -> None:
        """The hospital timed out waiting and resends the same request: same answer."""
        self.step = "Settle (resent msgid)"
        again = await self._hospital(self.c.settlement.Settle, self._settle_request(msgid))
        same = again.SerializeToString(deterministic=True) == first.SerializeToString(  # type: ignore[attr-defined]
            deterministic=True
        )
        self.tally.counts["msgids resent"] += 1
        if same:
            self.tally.counts["msgids resent: same response"] += 1
        else:
            self.tally.error("Settle resent msgid: different response", msgid)

    async def _send_correct(self, omsgid: str) -> settlement_pb2.CorrectResponse:
        """2601 for the request sent under ``omsgid`` (2304 inpatient, 2207 outpatient)."""
        reply = await self._hospital(
            self.c.settlement.Correct,
            settlement_pb2.CorrectRequest(
                header=self._header(self._next()),
                psn_no=self.p.psn_no,
                omsgid=omsgid,
                oinfno="2304" if self.inpatient else "2207",
            ),
        )
        assert isinstance(reply, settlement_pb2.CorrectResponse)
        return reply

    async def _correct(self, settle_msgid: str) -> None:
        """The Settle response never reached the HIS: 2601 undoes it by its msgid. The
        answer carries the reversal's setlinfo only: its funds are those of the settlement
        it undid, negated (checked against the reversal's totals when recorded)."""
        self.step = "Correct"
        reply = await self._send_correct(settle_msgid)
        undone = self.s.settled
        if (
            reply.result == settlement_pb2.CORRECTION_RESULT_UNDONE
            and reply.HasField("reversal")
            and undone is not None
            and reply.reversal.reversed_setl_id == undone.setlinfo.setl_id
        ):
            self._record(reply.reversal, negated(undone.setldetail), reversal=True)
            self.tally.counts["corrections (2601) undoing a settlement"] += 1
        else:
            self.tally.error("Correct: settlement not undone", settle_msgid)

    async def _tombstone(self) -> None:
        """A Settle that never arrived is corrected first: when it shows up late, it is
        refused (MSGID_CORRECTED) and nothing is settled twice."""
        self.step = "Correct (tombstone)"
        lost = self._next()
        reply = await self._send_correct(lost)
        if reply.result != settlement_pb2.CORRECTION_RESULT_TOMBSTONED:
            self.tally.error("Correct: expected a tombstone", lost)
            return
        self.tally.counts["corrections (2601) of a request that never arrived"] += 1
        try:
            await self._hospital(self.c.settlement.Settle, self._settle_request(lost))
            self.tally.error("Settle after its tombstone was accepted", lost)
        except grpc.aio.AioRpcError as error:
            if reason_of(error) == "MSGID_CORRECTED":
                self.tally.counts["late originals refused (MSGID_CORRECTED)"] += 1
            else:
                self.tally.error(f"Settle after tombstone {error.code().name}", lost)

    async def _reverse(self, info: settlement_pb2.SettlementInfo) -> None:
        self.step = "ReverseSettlement"
        reply = await self._hospital(
            self.c.settlement.ReverseSettlement,
            settlement_pb2.ReverseSettlementRequest(
                header=self._header(self._next()),
                setl_id=info.setl_id,
                mdtrt_id=self.s.mdtrt_id,
                psn_no=self.p.psn_no,
            ),
        )
        assert isinstance(reply, settlement_pb2.ReverseSettlementResponse)
        self._record(reply.setlinfo, reply.setldetail, reversal=True)
        self.tally.counts["reversals (2208/2305)"] += 1

    def _caps(self, reply: settlement_pb2.SettleResponse) -> None:
        for detail in reply.setldetail:
            if detail.fund_pay_type != common_pb2.FUND_TYPE_HIFP:
                continue
            label = cap_label(detail.setl_proc_info)
            if label is not None:
                self.tally.caps.append(
                    CapHit(
                        self.p.psn_no,
                        self.p.cohort,
                        label,
                        reply.setlinfo.clr_ym,
                        china_day(reply.setlinfo),
                    )
                )

    def _record(
        self,
        info: settlement_pb2.SettlementInfo,
        details: Iterable[settlement_pb2.FundDetail],
        *,
        reversal: bool,
    ) -> None:
        amounts = fund_amounts(info, details)
        differing = disagreement(info, amounts)
        if differing is not None:
            self.tally.error(
                "setldetail funds disagree with setlinfo", f"{info.setl_id}: {differing}"
            )
        self.tally.settlements.append(
            SettlementRecord(
                setl_id=info.setl_id,
                reversed_setl_id=info.reversed_setl_id,
                psn_no=self.p.psn_no,
                cohort=self.p.cohort,
                hospital=self.e.hospital,
                insured_pool=info.insuplc_admdvs or self.p.insured_pool,
                treatment_pool=info.mdtrtarea_admvs or self.e.treatment_pool,
                relation=_relation_name(info.relation) or self.relation,
                visit=self.e.visit.value,
                clr_ym=info.clr_ym,
                treatment_month=self.e.month,
                sim_day=china_day(info),
                medfee_fen=info.medfee_sumamt_fen,
                amounts=amounts,
                reversal=reversal,
            )
        )


def _fee_day(start: date, e: Encounter, line_no: int) -> date:
    """Inpatient lines spread over the stay; outpatient lines fall on the visit day."""
    if e.visit is not Visit.INPATIENT or e.los_days <= 0:
        return start
    return start + timedelta(days=(line_no - 1) % (e.los_days + 1))
