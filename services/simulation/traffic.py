"""The traffic, step by step on the simulated calendar, sent as the real parties send it.

Pool agencies register their insured persons (caller = 6-digit pool code); persons file
through the channels on the day the plan says (or the referring hospital files for them
at its counter); hospitals identify the patient (1101), register (2201) or admit (2401)
on the visit or admission day, upload fee lines (2204/2301), discharge (2402), pre-settle
and settle on the visit or discharge day — with now and then a resent msgid — reverse
(2208/2305) or correct (2601) on a later day, and handle refusals as a hospital does:
the patient files at the counter (补办) and the hospital settles again, or the patient
pays in full.

Determinism: each person's steps run one after another in the plan's order (concurrency
is only across persons within a slot of the day), and every msgid and request id comes
from the plan, so annual accumulations, and therefore every amount, repeat run after run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc

from services.simulation.clients import Clients
from services.simulation.hospital_flow import (
    EncounterFailed,
    EncounterState,
    HospitalFlow,
    PersonState,
)
from services.simulation.pharmacies import PharmacyTraffic
from services.simulation.scenario import (
    Encounter,
    FilingPlan,
    PersonPlan,
    Plan,
    Step,
    StepKind,
)
from services.simulation.tally import EncounterOutcome, Tally
from shared.grpc_errors import reason_of
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2

Advance = Callable[[str, int], None]


def _enum_value(enum: object, prefix: str, name: str) -> int:
    return int(enum.Value(prefix + name))  # type: ignore[attr-defined]


# -- persons and filings ------------------------------------------------------------------------


def person_message(p: PersonPlan) -> filing_pb2.Person:
    return filing_pb2.Person(
        psn_no=p.psn_no,
        name=p.name,
        phone=p.phone,
        documents=[
            common_pb2.IdentityDocument(
                type=_enum_value(common_pb2.DocumentType, "DOCUMENT_TYPE_", d.doc_type),  # type: ignore[arg-type]
                number=d.number,
            )
            for d in p.documents
        ],
        insured_pool=p.insured_pool,
        insutype=common_pb2.InsuranceType.ValueType(int(p.insutype)),
        person_type=common_pb2.PersonType.Value("PERSON_TYPE_" + p.person_type),
        assistance_category=common_pb2.AssistanceCategory.Value(
            "ASSISTANCE_CATEGORY_" + p.assistance
        ),
        sex=int(p.sex),  # type: ignore[arg-type]
        birth_date=p.birth_date.isoformat(),
        acct_balance_fen=p.acct_balance_fen,
    )


def _destination(pool: str | None, province: str | None) -> filing_pb2.Destination:
    if pool:
        return filing_pb2.Destination(pool_code=pool)
    return filing_pb2.Destination(province_code=province or "")


def filing_request(p: PersonPlan, f: FilingPlan) -> filing_pb2.SubmitFilingRequest:
    request = filing_pb2.SubmitFilingRequest(
        channel=_enum_value(filing_pb2.Channel, "CHANNEL_", f.channel),  # type: ignore[arg-type]
        channel_request_id=f.request_id,
        psn_no=p.psn_no,
        category=_enum_value(filing_pb2.FilingCategory, "FILING_CATEGORY_", f.category),  # type: ignore[arg-type]
        destination=_destination(f.destination_pool, f.destination_province),
        start_date=f.start_date.isoformat(),
        end_date=f.end_date.isoformat() if f.end_date else "",
        commitment_accepted=True,
    )
    if f.referral is not None:
        from_hospital, to_hospital, icd, name = f.referral
        request.referral.CopyFrom(
            filing_pb2.ReferralDetails(
                referring_hospital_code=from_hospital,
                hospital_code=to_hospital,
                diagnosis_code=icd,
                diagnosis_name=name,
            )
        )
    return request


@dataclass
class Traffic:
    clients: Clients
    plan: Plan
    tally: Tally
    advance: Advance
    concurrency: int
    states: dict[int, PersonState] = field(default_factory=dict)
    pharmacy: PharmacyTraffic | None = None  # the pharmacy purchases, when planned

    def __post_init__(self) -> None:
        self._persons = {p.index: p for p in self.plan.persons}

    def state(self, p: PersonPlan) -> PersonState:
        return self.states.setdefault(p.index, PersonState())

    async def _concurrently(
        self, work: Sequence[Callable[[], Awaitable[None]]], limit: int | None = None
    ) -> None:
        queue = list(reversed(work))

        async def worker() -> None:
            while queue:
                await queue.pop()()

        await asyncio.gather(*(worker() for _ in range(min(limit or self.concurrency, len(queue)))))

    # -- the pool agencies register their insured ------------------------------------------------

    async def register_persons(self) -> None:
        async def one(p: PersonPlan) -> None:
            try:
                await self.clients.call(
                    self.clients.filing.UpsertPerson,
                    filing_pb2.UpsertPersonRequest(person=person_message(p)),
                    p.insured_pool,
                )
                self.tally.counts["persons registered"] += 1
                for d in p.documents:
                    self.tally.persons_by_document[d.doc_type] += 1
            except grpc.aio.AioRpcError as error:
                self._record_error("UpsertPerson", error)
            self.advance("persons", 1)

        await self._concurrently([lambda p=p: one(p) for p in self.plan.persons])  # type: ignore[misc]

    # -- one slot of the day -------------------------------------------------------------------

    async def run(self, steps: Sequence[Step]) -> None:
        """One slot's steps: each person's in order, persons concurrently."""
        by_person: dict[int, list[Step]] = {}
        for step in steps:
            by_person.setdefault(step.person, []).append(step)

        async def person(index: int) -> None:
            p = self._persons[index]
            for step in by_person[index]:
                await self._step(p, step)

        await self._concurrently([lambda i=i: person(i) for i in by_person])  # type: ignore[misc]

    async def _step(self, p: PersonPlan, step: Step) -> None:
        f = p.filing
        if step.kind is StepKind.CERTIFY:
            await self._certify_chronic(p, step)
        elif step.kind is StepKind.FILE:
            assert f is not None
            try:
                await self.submit_filing(p, f)
            except grpc.aio.AioRpcError as error:
                self._record_error("SubmitFiling", error)
        elif step.kind is StepKind.CHANGE:
            assert f is not None
            await self._change_filing(p, f)
        elif step.kind is StepKind.CANCEL:
            assert f is not None
            await self._cancel_filing(p, f)
        elif step.kind is StepKind.PURCHASE:
            assert self.pharmacy is not None
            await self.pharmacy.purchase(self.tally, step.encounter)
        else:
            e = p.encounters[step.encounter]
            await self._encounter(p, e, step.encounter, step.kind)

    async def _certify_chronic(self, p: PersonPlan, step: Step) -> None:
        """The insured pool's agency certifies the person's chronic disease (资格认定)."""
        diseases = sorted({e.disease for e in p.encounters if e.disease is not None})
        for disease in diseases:
            request = filing_pb2.CertifyChronicDiseaseRequest(
                channel_request_id=f"cert-{p.psn_no}-{disease}",
                psn_no=p.psn_no,
                disease_code=disease,
                valid_from_date=step.at.date().isoformat(),
            )
            try:
                await self.clients.call(
                    self.clients.filing.CertifyChronicDisease, request, p.insured_pool
                )
                self.tally.counts["chronic diseases certified"] += 1
            except grpc.aio.AioRpcError as error:
                self._record_error("CertifyChronicDisease", error)

    async def submit_filing(self, p: PersonPlan, f: FilingPlan) -> None:
        reply = await self.clients.call(
            self.clients.filing.SubmitFiling, filing_request(p, f), f.caller
        )
        self.state(p).filing_id = str(reply.filing.filing_id)
        self.tally.counts["filings submitted"] += 1
        self.tally.filings_by_channel[f.channel] += 1
        self.tally.filings_by_timing[f.timing.value] += 1
        if reply.retroactive:
            self.tally.counts["filings starting before their submission day"] += 1

    async def _change_filing(self, p: PersonPlan, f: FilingPlan) -> None:
        assert f.change is not None
        filing_id = self.state(p).filing_id
        if not filing_id:
            self.tally.counts["filing changes not made (nothing filed)"] += 1
            return
        what, value = f.change
        request = filing_pb2.ChangeFilingRequest(
            channel=filing_pb2.CHANNEL_APP,
            channel_request_id=f.change_request_id,
            filing_id=filing_id,
        )
        if what == "END_DATE":
            request.reason = filing_pb2.CHANGE_REASON_PERSONAL_REQUEST
            request.end_date = value
        else:
            request.reason = filing_pb2.CHANGE_REASON_RESETTLEMENT_PLACE_CHANGED
            request.destination.CopyFrom(filing_pb2.Destination(province_code=value))
        try:
            await self.clients.call(
                self.clients.filing.ChangeFiling, request, "channel-app", person=p.psn_no
            )
            self.tally.counts["filings changed"] += 1
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                self.tally.counts[f"filing changes refused ({reason_of(error)})"] += 1
            else:
                self._record_error("ChangeFiling", error)

    async def _cancel_filing(self, p: PersonPlan, f: FilingPlan) -> None:
        """Back home for good: the temporary filer cancels through the app."""
        try:
            reply = await self.clients.call(
                self.clients.filing.ListFilings,
                filing_pb2.ListFilingsRequest(psn_no=p.psn_no),
                "channel-app",
            )
            active = [x for x in reply.filings if x.status == filing_pb2.FILING_STATUS_ACTIVE]
            for filing in active[:1]:
                await self.clients.call(
                    self.clients.filing.CancelFiling,
                    filing_pb2.CancelFilingRequest(
                        channel=filing_pb2.CHANNEL_APP,
                        channel_request_id=f.cancel_request_id,
                        filing_id=filing.filing_id,
                        reason=filing_pb2.CHANGE_REASON_PERSONAL_REQUEST,
                    ),
                    "channel-app",
                    person=p.psn_no,
                )
                self.tally.counts["filings cancelled"] += 1
        except grpc.aio.AioRpcError as error:
            self._record_error("CancelFiling", error)

    # -- hospital traffic ------------------------------------------------------------------------

    async def _encounter(self, p: PersonPlan, e: Encounter, index: int, kind: StepKind) -> None:
        state = self.state(p)
        es = state.encounters.setdefault(index, EncounterState())
        flow = HospitalFlow(self, p, e, es)
        try:
            if kind is StepKind.ADMIT:
                await flow.admit()
            elif kind is StepKind.SETTLE:
                await flow.settle()
                self.advance("encounters", 1)
            else:
                await flow.later()
        except EncounterFailed as failure:
            self.tally.error(f"{flow.step} failed", str(failure))
            if kind is StepKind.SETTLE:
                self.outcome(p, e, "FAILED", flow.relation)
                self.advance("encounters", 1)
        except grpc.aio.AioRpcError as error:
            self._record_error(flow.step, error)
            if kind is StepKind.SETTLE:
                self.outcome(p, e, "FAILED", flow.relation)
                self.advance("encounters", 1)

    def outcome(
        self,
        p: PersonPlan,
        e: Encounter,
        outcome: str,
        relation: str,
        *,
        period: str = "",
        basis: str = "",
    ) -> None:
        self.tally.outcomes.append(
            EncounterOutcome(
                p.psn_no,
                relation,
                e.visit.value,
                outcome,
                e.amount_fen,
                month=e.month,
                period=period,
                basis=basis,
            )
        )

    def _record_error(self, step: str, error: grpc.aio.AioRpcError) -> None:
        reason = reason_of(error) or ""
        key = f"{step} {error.code().name} {reason}".strip()
        self.tally.error(key, error.details() or "")
