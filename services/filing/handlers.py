"""The filing use cases: authorise, run the rules, write, publish — one transaction each.

Each use case takes the caller and plain or domain values and returns domain results;
nothing here knows protobuf (the servicer translates, ``messages`` writes the events).

Every keyed write (filings, certifications) is one unit of work (``shared.unit_of_work``)
holding the change, its event (outbox) and the request's idempotency key with the
response; a person's upsert, which carries no key, is one plain transaction
(``shared.transaction``). Both roll back unless committed explicitly: either all of it
commits or none of it does. The rules in ``domain`` decide; this layer only orders the
steps and owns the transaction boundaries.

Write order inside a unit of work: claim the idempotency key (a concurrent duplicate
waits here for the first to commit, then gets its response), lock the person (one writer
of a person's filings at a time), read, decide, write, emit the event, commit with the
response.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

import asyncpg
from google.protobuf.message import Message

from services.filing import store
from services.filing.domain import (
    ChangeReason,
    Channel,
    ChannelFigures,
    Coverage,
    Filing,
    FilingCategory,
    FilingChange,
    FilingPolicy,
    FilingPolicyBook,
    FilingRequest,
    FilingSubmission,
    ReasonCode,
    Visit,
    check_period,
    chronic,
    decide_coverage,
    figures_from_counts,
    lock_ends_on,
    validate_cancel,
    validate_change,
    validate_submission,
)
from services.filing.domain.access import (
    check_may_apply_chronic,
    check_may_certify_chronic,
    check_may_file,
    check_may_look_up_document,
    check_may_maintain_person,
    check_may_maintain_persons,
    check_may_read_filings,
    check_may_read_person,
    check_may_see_figures,
    hospital_of,
    may_read_person,
)
from services.filing.domain.persons import (
    IdentityDocument,
    Person,
    PersonDraft,
    insured_pool_of,
    validate_person,
)
from services.filing.messages import FilingEventKind, certification_event, filing_event
from shared.auth import Caller
from shared.bus import exchange_name
from shared.clock import china_today
from shared.errors import FailedPrecondition, InvalidArgument, NotFound
from shared.reference import Relation, is_pool, province_of
from shared.transaction import answer_once, transaction
from shared.unit_of_work import UnitOfWork

# China has one time zone and no daylight saving: a filing's dates are Beijing dates.
FILING_ID_RANDOM_BYTES = 5  # 2^40 ids per pool and day: collisions are not a concern
DB_TIMEOUT_S = 10.0

M = TypeVar("M", bound=Message)


def new_certification_id(insured_pool: str, today: date) -> str:
    """C + insured pool + submission date + 10 random hex digits: 25 characters."""
    return f"C{insured_pool}{today:%Y%m%d}{secrets.token_hex(FILING_ID_RANDOM_BYTES).upper()}"


def new_filing_id(insured_pool: str, today: date) -> str:
    """F + insured pool + submission date + 10 random hex digits: 25 characters."""
    return f"F{insured_pool}{today:%Y%m%d}{secrets.token_hex(FILING_ID_RANDOM_BYTES).upper()}"


@dataclass(frozen=True)
class RequestKey(Generic[M]):
    """A request whose first response is kept and returned on retries (idempotency).

    The caller (the servicer) names the key's scope and the response's type; the use case
    claims the key first and commits the response with it.
    """

    scope: str
    key: str
    request: Message
    response_type: type[M]


@dataclass(frozen=True)
class FilingView:
    """A filing version with what a reader needs beside it."""

    psn_no: str
    filing: Filing
    ratio_reduction_bp: int  # under the policy in force on the submission date
    change_lock_ends_on: date | None  # long-term only, under today's policy


@dataclass(frozen=True, kw_only=True)
class SubmitCommand:
    """The filing a person asks for, through a channel that names the request."""

    psn_no: str
    channel: Channel
    channel_request_id: str
    request: FilingRequest


@dataclass(frozen=True)
class Submitted:
    view: FilingView
    retroactive: bool
    validity_extended: bool


@dataclass(frozen=True, kw_only=True)
class ChangeCommand:
    filing_id: str
    channel: Channel
    channel_request_id: str
    change: FilingChange


@dataclass(frozen=True)
class Changed:
    view: FilingView
    superseded: FilingView | None


@dataclass(frozen=True, kw_only=True)
class CancelCommand:
    filing_id: str
    channel: Channel
    channel_request_id: str
    reason: ChangeReason


@dataclass(frozen=True)
class CoverageQuery:
    psn_no: str
    visit: Visit
    chronic_disease_code: str | None = None  # chronic visits: check the certification


@dataclass(frozen=True)
class CoverageAnswer:
    person: Person
    coverage: Coverage
    policy_version: str
    certification: chronic.ChronicCertification | None = None


@dataclass(frozen=True, kw_only=True)
class CertifyCommand:
    """A new certification for a person: decided by the agency (hospital_code None) or
    applied for."""

    psn_no: str
    channel_request_id: str
    request: chronic.CertificationRequest


@dataclass(frozen=True, kw_only=True)
class StepCommand:
    """Approve or cancel a stored certification."""

    certification_id: str
    channel_request_id: str


class FilingService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bus_namespace: str,
        policies: FilingPolicyBook,
        today: Callable[[], date] = china_today,
    ) -> None:
        self._pool = pool
        self._exchange = exchange_name(bus_namespace, "filing")
        self._policies = policies
        self._today = today

    # -- persons -----------------------------------------------------------------------

    async def upsert_person(self, caller: Caller, draft: PersonDraft) -> tuple[Person, bool]:
        """The stored person, and whether this call created them."""
        check_may_maintain_persons(caller)
        if is_pool(draft.insured_pool):
            # Refuse a foreign pool's person before looking at the rest of the record.
            check_may_maintain_person(caller, draft.insured_pool)
        person = validate_person(draft, self._today())
        check_may_maintain_person(caller, person.insured_pool)
        async with transaction(self._pool, acquire_timeout_s=DB_TIMEOUT_S) as tx:
            held = await store.documents_held_elsewhere(tx.conn, person)
            if held:
                raise FailedPrecondition(
                    store.REASON_DOCUMENT_HELD,
                    f"person.documents[{held[0]}] is registered to another person",
                )
            stored = await store.upsert_person(tx.conn, person)
            await tx.commit()
        return stored, stored.revision == 1

    async def person_by_psn_no(self, caller: Caller, psn_no: str) -> Person:
        check_may_read_person(caller, _pool_of(psn_no))
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            return await store.get_person(conn, psn_no)

    async def person_by_document(self, caller: Caller, document: IdentityDocument) -> Person:
        check_may_look_up_document(caller)
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            person = await store.find_person_by_document(conn, document)
        # Another pool's person is "not found": an agency learns nothing about them.
        if person is None or not may_read_person(caller, person.insured_pool):
            raise NotFound("no person holds this document")
        return person

    # -- filings -----------------------------------------------------------------------

    async def submit(
        self,
        caller: Caller,
        cmd: SubmitCommand,
        idem: RequestKey[M],
        render: Callable[[Submitted], M],
    ) -> M:
        referring = None
        asked = cmd.request
        if asked.category is FilingCategory.REFERRAL and asked.referral is not None:
            referring = asked.referral.referring_hospital_code
        check_may_file(caller, cmd.channel, _pool_of(cmd.psn_no), referring, cmd.psn_no)
        today = self._today()
        policy = self._policies.policy_on(today)

        async def work(uow: UnitOfWork) -> M:
            person = await store.lock_person(uow.conn, cmd.psn_no, adds_in_force=True)
            submission = FilingSubmission(
                request=asked,
                insured_pool=person.insured_pool,
                channel=cmd.channel,
                submitted_on=today,
            )
            normalised = validate_submission(submission, policy)
            filing = normalised.to_filing(new_filing_id(person.insured_pool, today))
            await self._add_version(
                uow, caller, cmd, person.psn_no, filing, FilingEventKind.EFFECTIVE, None
            )
            view = self._view(person.psn_no, filing, today)
            return render(Submitted(view, normalised.retroactive, normalised.validity_extended))

        return await self._once(idem, work)

    async def change(
        self,
        caller: Caller,
        cmd: ChangeCommand,
        idem: RequestKey[M],
        render: Callable[[Changed], M],
    ) -> M:
        # Authorise before the lookup: the id names the insured pool.
        check_may_file(caller, cmd.channel, _pool_of_filing(cmd.filing_id))
        today = self._today()
        policy = self._policies.policy_on(today)

        async def work(uow: UnitOfWork) -> M:
            # A change that closes the previous version keeps it in force beside the new.
            person, current = await store.lock_current_filing(
                uow.conn, cmd.filing_id, adds_in_force=True
            )
            check_may_file(caller, cmd.channel, current.filing.insured_pool, psn_no=person.psn_no)
            outcome = validate_change(current.filing, cmd.change, today, policy)
            await store.retire_current(uow.conn, current.filing, outcome.superseded)
            await self._add_version(
                uow,
                caller,
                cmd,
                person.psn_no,
                outcome.amended,
                FilingEventKind.CHANGED,
                cmd.change.reason,
            )
            superseded = outcome.superseded
            return render(
                Changed(
                    self._view(person.psn_no, outcome.amended, today),
                    self._view(person.psn_no, superseded, today) if superseded else None,
                )
            )

        return await self._once(idem, work)

    async def cancel(
        self,
        caller: Caller,
        cmd: CancelCommand,
        idem: RequestKey[M],
        render: Callable[[FilingView], M],
    ) -> M:
        # Authorise before the lookup (a hospital passes only as a referring hospital; that
        # it referred this filing is checked once the filing is read).
        maybe_referring = hospital_of(caller)
        check_may_file(caller, cmd.channel, _pool_of_filing(cmd.filing_id), maybe_referring)
        today = self._today()
        policy = self._policies.policy_on(today)

        async def work(uow: UnitOfWork) -> M:
            person, current = await store.lock_current_filing(
                uow.conn, cmd.filing_id, adds_in_force=False
            )
            referral = current.filing.referral
            referring = referral.referring_hospital_code if referral else None
            check_may_file(
                caller, cmd.channel, current.filing.insured_pool, referring, person.psn_no
            )
            cancelled = validate_cancel(current.filing, cmd.reason, today, policy)
            # The cancelled version covers the whole validity up to the cancellation, so
            # the previous version leaves force.
            await store.retire_current(uow.conn, current.filing, None)
            await self._add_version(
                uow, caller, cmd, person.psn_no, cancelled, FilingEventKind.CANCELLED, cmd.reason
            )
            return render(self._view(person.psn_no, cancelled, today))

        return await self._once(idem, work)

    async def get_filing(self, caller: Caller, filing_id: str, version: int) -> FilingView:
        check_may_read_filings(caller, _pool_of_filing(filing_id))
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            stored = await store.get_filing(conn, filing_id, version)
        check_may_read_filings(caller, stored.filing.insured_pool, stored.psn_no)
        return self._view(stored.psn_no, stored.filing, self._today())

    async def list_filings(
        self, caller: Caller, psn_no: str, after: store.PageKey | None, page_size: int
    ) -> tuple[list[FilingView], store.PageKey | None]:
        check_may_read_filings(caller, _pool_of(psn_no), psn_no)
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            page, next_key = await store.list_filings(conn, psn_no, after, page_size)
        today = self._today()
        return [self._view(s.psn_no, s.filing, today) for s in page], next_key

    # -- coverage and figures ----------------------------------------------------------

    async def check_coverage(self, caller: Caller, query: CoverageQuery) -> CoverageAnswer:
        check_may_read_person(caller, _pool_of(query.psn_no))
        visit = query.visit
        policy = self._policy_for_treatment(visit.treatment_date)
        province = province_of(visit.treatment_pool)
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            person, filings, certifications = await store.coverage_snapshot(
                conn, query.psn_no, visit.treatment_pool, province, query.chronic_disease_code
            )
        coverage = decide_coverage(
            insured_pool=person.insured_pool,
            visit=visit,
            filings=filings,
            policy=policy,
            today=self._today(),
        )
        # Cross-region only: in its own pool the insured pool's system checks its own
        # certifications; a refusal for want of a filing stands as it is.
        disease = query.chronic_disease_code
        if disease is None or not coverage.allowed or coverage.relation is Relation.LOCAL:
            return CoverageAnswer(person, coverage, policy.version)
        certification = chronic.certification_for_visit(
            certifications, person.insured_pool, disease, visit.treatment_date
        )
        if certification is None:
            message = chronic.not_certified_message(certifications, disease, visit.treatment_date)
            refused = coverage.refused(ReasonCode.CHRONIC_DISEASE_NOT_CERTIFIED, message)
            return CoverageAnswer(person, refused, policy.version)
        return CoverageAnswer(person, coverage, policy.version, certification)

    # -- chronic/special disease certification -----------------------------------------

    async def certify_chronic(
        self,
        caller: Caller,
        cmd: CertifyCommand,
        idem: RequestKey[M],
        render: Callable[[chronic.ChronicCertification], M],
    ) -> M:
        """CertifyChronicDisease (agency decision) and FileChronicDisease (2503)."""
        insured_pool = _pool_of(cmd.psn_no)
        if cmd.request.source is chronic.CertificationSource.AGENCY_DECISION:
            check_may_certify_chronic(caller, insured_pool)
        else:
            check_may_apply_chronic(caller, insured_pool, cmd.request.hospital_code)
        today = self._today()
        policy = self._policies.policy_on(today)

        async def work(uow: UnitOfWork) -> M:
            person = await store.lock_person(uow.conn, cmd.psn_no, adds_in_force=False)
            existing = await store.person_certifications(uow.conn, person.psn_no)
            draft = chronic.CertificationDraft(
                psn_no=person.psn_no, certifying_pool=person.insured_pool, request=cmd.request
            )
            certification = chronic.new_certification(
                draft, new_certification_id(person.insured_pool, today), existing, policy, today
            )
            await store.insert_certification(uow.conn, certification, caller.code, idem.key)
            uow.emit(certification_event(self._exchange, certification))
            return render(certification)

        return await self._once(idem, work)

    async def approve_chronic(
        self,
        caller: Caller,
        cmd: StepCommand,
        idem: RequestKey[M],
        render: Callable[[chronic.ChronicCertification], M],
    ) -> M:
        """ApproveChronicDisease (2504): the certifying pool's agency approves an application."""

        def check(c: chronic.ChronicCertification) -> None:
            check_may_certify_chronic(caller, c.certifying_pool)

        check_may_certify_chronic(caller, _pool_of_certification(cmd.certification_id))
        return await self._certification_step(caller, cmd, check, chronic.approve, idem, render)

    async def cancel_chronic(
        self,
        caller: Caller,
        cmd: StepCommand,
        idem: RequestKey[M],
        render: Callable[[chronic.ChronicCertification], M],
    ) -> M:
        """CancelChronicDisease (2504): by the certifying pool's agency, or by the hospital
        that applied."""

        def check(c: chronic.ChronicCertification) -> None:
            check_may_apply_chronic(caller, c.certifying_pool, c.hospital_code)

        # A hospital passes only for its own applications, checked once the row is read.
        maybe_own = hospital_of(caller)
        check_may_apply_chronic(caller, _pool_of_certification(cmd.certification_id), maybe_own)
        return await self._certification_step(caller, cmd, check, chronic.cancel, idem, render)

    async def _certification_step(
        self,
        caller: Caller,
        cmd: StepCommand,
        check: Callable[[chronic.ChronicCertification], None],
        step: Callable[[chronic.ChronicCertification, date], chronic.ChronicCertification],
        idem: RequestKey[M],
        render: Callable[[chronic.ChronicCertification], M],
    ) -> M:
        """Lock the certification, check the caller against it, take the step, publish."""
        today = self._today()

        async def work(uow: UnitOfWork) -> M:
            current = await store.lock_certification(uow.conn, cmd.certification_id)
            check(current)
            changed = step(current, today)
            await store.update_certification(uow.conn, changed, caller.code)
            uow.emit(certification_event(self._exchange, changed))
            return render(changed)

        return await self._once(idem, work)

    async def list_certifications(
        self, caller: Caller, psn_no: str
    ) -> list[chronic.ChronicCertification]:
        check_may_read_person(caller, _pool_of(psn_no))
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            return await store.person_certifications(conn, psn_no)

    async def channel_figures(
        self, caller: Caller, start: date, end: date, region: str | None
    ) -> ChannelFigures:
        check_may_see_figures(caller, region)
        check_period(start, end, end_field="end_date")
        async with self._pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            counts = await store.count_submissions(conn, start, end, region)
        return figures_from_counts(start, end, counts)

    # -- helpers -----------------------------------------------------------------------

    async def _once(self, idem: RequestKey[M], work: Callable[[UnitOfWork], Awaitable[M]]) -> M:
        """Run ``work`` in one unit of work claiming the request's key: a retry gets the
        stored response, a first request commits its change, event and response."""
        return await answer_once(
            self._pool,
            idem.scope,
            idem.key,
            idem.request,
            idem.response_type,
            work,
            acquire_timeout_s=DB_TIMEOUT_S,
        )

    async def _add_version(
        self,
        uow: UnitOfWork,
        caller: Caller,
        cmd: SubmitCommand | ChangeCommand | CancelCommand,
        psn_no: str,
        filing: Filing,
        kind: FilingEventKind,
        reason: ChangeReason | None,
    ) -> None:
        """Insert a filing version with the request that made it, and emit its event."""
        meta = store.RequestMeta(
            cmd.channel,
            caller.code,
            cmd.channel_request_id,
            reason.value if reason else None,
            acted_by=caller.acted_by,
        )
        await store.insert_filing(uow.conn, psn_no, filing, meta)
        uow.emit(filing_event(self._exchange, kind, psn_no, filing, cmd.channel))

    def _view(self, psn_no: str, filing: Filing, today: date) -> FilingView:
        submitted_under = self._policies.policy_on(filing.submitted_on)
        return FilingView(
            psn_no=psn_no,
            filing=filing,
            ratio_reduction_bp=submitted_under.reduction_bp(filing.category),
            change_lock_ends_on=lock_ends_on(filing, self._policies.policy_on(today)),
        )

    def _policy_for_treatment(self, treatment_date: date) -> FilingPolicy:
        try:
            return self._policies.policy_on(treatment_date)
        except NotFound as exc:
            raise InvalidArgument("treatment_date", "before any filing policy took effect") from exc


_FILING_ID = re.compile(rf"F(\d{{6}})\d{{8}}[0-9A-F]{{{2 * FILING_ID_RANDOM_BYTES}}}")


def _pool_of_filing(filing_id: str) -> str:
    """The insured pool a filing id names (see ``new_filing_id``); an id of another form
    names no filing."""
    match = _FILING_ID.fullmatch(filing_id)
    if match is None:
        raise NotFound("no such filing")
    return match.group(1)


_CERTIFICATION_ID = re.compile(rf"C(\d{{6}})\d{{8}}[0-9A-F]{{{2 * FILING_ID_RANDOM_BYTES}}}")


def _pool_of_certification(certification_id: str) -> str:
    """The insured pool a certification id names (see ``new_certification_id``)."""
    match = _CERTIFICATION_ID.fullmatch(certification_id)
    if match is None:
        raise NotFound("no such certification")
    return match.group(1)


def _pool_of(psn_no: str) -> str:
    pool = insured_pool_of(psn_no)
    # The servicer checks the form of every person number before it gets here.
    assert pool is not None, "a well-formed person number"
    return pool
