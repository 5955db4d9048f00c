"""FilingService over gRPC: protobuf ⇄ domain values, nothing else.

Each RPC reads its request into domain values (every malformed field reported at once,
named by its path in the request), calls the use case with the authenticated caller, and
writes the result back. Domain errors travel up to the server interceptor, which maps
them to status codes.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import date
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from services.filing import handlers as uc
from services.filing import national_codes
from services.filing.domain import (
    ChangeReason,
    Channel,
    ChannelFigures,
    CoverageBasis,
    Destination,
    FilingCategory,
    FilingChange,
    FilingRequest,
    FilingStatus,
    ReferralDetails,
    Visit,
    VisitType,
    chronic,
)
from services.filing.domain.dates import parse_iso_date
from services.filing.domain.persons import (
    MAX_DOCUMENTS,
    IdentityDocument,
    Person,
    PersonDraft,
    check_psn_no,
)
from services.filing.store import MAX_PAGE_SIZE, PageKey
from shared import pb_enums
from shared.auth import Caller, CallerKind, caller
from shared.enduser import EndUserVerifier, bearer_of
from shared.errors import InvalidArgument, Violations
from shared.identity import DocumentType, validate_document
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc
from shared.pb_enums import EnumMap
from shared.reference import INSTITUTION_CODE_RE, is_pool, is_province
from shared.vocabulary import parse_national_date

DEFAULT_PAGE_SIZE = 20
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
FILING_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PERIOD_RE = re.compile(r"([12]\d{3})(0[1-9]|1[0-2])")
MAX_PAGE_TOKEN_CHARS = 200

E = TypeVar("E", bound=Enum)
M = TypeVar("M", bound=Message)
Q = TypeVar("Q", bound=Message)
R = TypeVar("R")
C = TypeVar("C", uc.SubmitCommand, uc.ChangeCommand, uc.CancelCommand)
K = TypeVar("K", uc.CertifyCommand, uc.StepCommand)
CertificationReply = Callable[[chronic.ChronicCertification], M]


def _enum_map(pb_enum: Any, prefix: str, domain: type[E]) -> EnumMap[E]:
    """proto enum ⇄ filing's own enum (``shared.pb_enums`` maps the shared vocabulary)."""
    return EnumMap(pb_enum, prefix, domain, complete=False)


CHANNELS = _enum_map(filing_pb2.Channel, "CHANNEL_", Channel)
CATEGORIES = _enum_map(filing_pb2.FilingCategory, "FILING_CATEGORY_", FilingCategory)
STATUSES = _enum_map(filing_pb2.FilingStatus, "FILING_STATUS_", FilingStatus)
CHANGE_REASONS = _enum_map(filing_pb2.ChangeReason, "CHANGE_REASON_", ChangeReason)
BASES = _enum_map(filing_pb2.CoverageBasis, "COVERAGE_BASIS_", CoverageBasis)
DOCUMENT_TYPES = _enum_map(common_pb2.DocumentType, "DOCUMENT_TYPE_", DocumentType)
CERT_SOURCES = _enum_map(
    filing_pb2.ChronicCertificationSource,
    "CHRONIC_CERTIFICATION_SOURCE_",
    chronic.CertificationSource,
)
CERT_STATUSES = _enum_map(
    filing_pb2.ChronicCertificationStatus,
    "CHRONIC_CERTIFICATION_STATUS_",
    chronic.CertificationStatus,
)
CERTIFICATION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


# -- request → domain ------------------------------------------------------------------


def _enum(v: Violations, mapping: EnumMap[E], number: int, field: str, what: str) -> E | None:
    member = mapping.member(number)
    v.check(member is not None, field, f"unknown or unset {what}")
    return member


def _text(v: Violations, regex: re.Pattern[str], text: str, field: str, what: str) -> str:
    v.check(regex.fullmatch(text) is not None, field, what)
    return text


def _destination(message: filing_pb2.Destination) -> Destination:
    # The domain checks that exactly one of the two is set and that it is a known place.
    return Destination(message.pool_code or None, message.province_code or None)


def _referral(request: Any) -> ReferralDetails | None:
    if not request.HasField("referral"):
        return None
    r = request.referral
    return ReferralDetails(
        referring_hospital_code=r.referring_hospital_code,
        hospital_code=r.hospital_code,
        diagnosis_code=r.diagnosis_code,
        diagnosis_name=r.diagnosis_name,
    )


def _request_id(v: Violations, request: Any) -> str:
    return _text(
        v,
        REQUEST_ID_RE,
        request.channel_request_id,
        "channel_request_id",
        "1–64 characters [A-Za-z0-9_-]",
    )


def _request_key(v: Violations, request: Any) -> tuple[Channel | None, str]:
    channel = _enum(v, CHANNELS, request.channel, "channel", "channel")
    request_id = _request_id(v, request)
    return channel, request_id


def _filing_key(
    who: Caller,
    action: str,
    cmd: uc.SubmitCommand | uc.ChangeCommand | uc.CancelCommand,
    request: Message,
    response_type: type[M],
) -> uc.RequestKey[M]:
    # Counter systems of different agencies number their requests independently, so the
    # key is scoped by the caller as well as by the channel; a channel's requests by its
    # end user too (one person's retry never answers with another person's filing).
    scope = f"filing.{action}.{cmd.channel.value}.{who.code}"
    if who.end_user is not None:
        scope += f".{who.acted_by}"
    return uc.RequestKey(scope, cmd.channel_request_id, request, response_type)


def _submit_command(request: filing_pb2.SubmitFilingRequest) -> uc.SubmitCommand:
    v = Violations()
    channel, request_id = _request_key(v, request)
    check_psn_no(v, request.psn_no)
    category = _enum(v, CATEGORIES, request.category, "category", "filing category")
    start = parse_iso_date(v, "start_date", request.start_date, required=True)
    end = parse_iso_date(v, "end_date", request.end_date, required=False)
    v.raise_if_any()
    assert channel is not None and category is not None and start is not None
    return uc.SubmitCommand(
        psn_no=request.psn_no,
        channel=channel,
        channel_request_id=request_id,
        request=FilingRequest(
            category=category,
            destination=_destination(request.destination),
            start_date=start,
            end_date=end,
            commitment_accepted=request.commitment_accepted,
            referral=_referral(request),
        ),
    )


def _change_command(request: filing_pb2.ChangeFilingRequest) -> uc.ChangeCommand:
    v = Violations()
    channel, request_id = _request_key(v, request)
    _text(v, FILING_ID_RE, request.filing_id, "filing_id", "not a filing id")
    reason = _enum(v, CHANGE_REASONS, request.reason, "reason", "change reason")
    end = parse_iso_date(v, "end_date", request.end_date, required=False)
    v.raise_if_any()
    assert channel is not None and reason is not None
    destination = None
    if request.HasField("destination"):
        destination = _destination(request.destination)
    change = FilingChange(
        reason=reason, destination=destination, end_date=end, referral=_referral(request)
    )
    return uc.ChangeCommand(
        filing_id=request.filing_id, channel=channel, channel_request_id=request_id, change=change
    )


def _cancel_command(request: filing_pb2.CancelFilingRequest) -> uc.CancelCommand:
    v = Violations()
    channel, request_id = _request_key(v, request)
    _text(v, FILING_ID_RE, request.filing_id, "filing_id", "not a filing id")
    reason = _enum(v, CHANGE_REASONS, request.reason, "reason", "change reason")
    v.raise_if_any()
    assert channel is not None and reason is not None
    return uc.CancelCommand(
        filing_id=request.filing_id, channel=channel, channel_request_id=request_id, reason=reason
    )


def _person_draft(person: filing_pb2.Person) -> PersonDraft:
    # More documents than allowed are refused by the rules; reading one past the limit
    # is enough to know, whatever the request holds.
    documents = tuple(
        (
            DOCUMENT_TYPES.member(national_codes.document_type_number(d, f"person.documents[{i}]")),
            d.number,
        )
        for i, d in enumerate(person.documents[: MAX_DOCUMENTS + 1])
    )
    return PersonDraft(
        psn_no=person.psn_no,
        name=person.name,
        phone=person.phone,
        documents=documents,
        insured_pool=person.insured_pool,
        insutype=pb_enums.INSUTYPE.member(
            national_codes.insutype_number(person.insutype, person.insutype_code, "person.")
        ),
        person_type=pb_enums.PERSON_TYPE.member(person.person_type),
        assistance_category=pb_enums.ASSISTANCE_CATEGORY.member(person.assistance_category),
        sex=pb_enums.SEX.member(person.sex),
        birth_date=person.birth_date,
        acct_balance_fen=person.acct_balance_fen,
    )


def _document(document: common_pb2.IdentityDocument, field: str) -> IdentityDocument:
    doc_type = DOCUMENT_TYPES.member(national_codes.document_type_number(document, field))
    if doc_type is None:
        raise InvalidArgument(f"{field}.type", "unknown or unset document type")
    return IdentityDocument(
        doc_type, validate_document(doc_type, document.number, f"{field}.number")
    )


def _coverage_query(request: filing_pb2.CheckCoverageRequest) -> uc.CoverageQuery:
    v = Violations()
    check_psn_no(v, request.psn_no)
    v.check(is_pool(request.treatment_pool), "treatment_pool", "unknown pool code")
    treatment_date = parse_iso_date(v, "treatment_date", request.treatment_date, required=True)
    med_type = national_codes.med_type_number(v, request.med_type, request.med_type_code)
    visit_type = pb_enums.MED_TYPE.member(med_type)
    v.check(
        bool(request.med_type or request.med_type_code), "med_type", "required (or med_type_code)"
    )
    code = request.hospital_code
    if code:
        # A pharmacy's code (P…) is accepted too: pharmacies settle cross-region as well.
        v.check(
            INSTITUTION_CODE_RE.fullmatch(code) is not None and code[1:7] == request.treatment_pool,
            "hospital_code",
            "not a designated hospital or pharmacy of treatment_pool",
        )
    disease = request.chronic_disease_code or None
    if disease is not None:
        disease = chronic.read_disease_code(v, "chronic_disease_code", disease)
        v.check(
            visit_type is VisitType.CHRONIC_OUTPATIENT,
            "chronic_disease_code",
            "only for a chronic/special outpatient visit (med_type 14)",
        )
    v.raise_if_any()
    assert treatment_date is not None and visit_type is not None
    visit = Visit(
        treatment_pool=request.treatment_pool,
        treatment_date=treatment_date,
        visit_type=visit_type,
        emergency=request.emergency,
    )
    return uc.CoverageQuery(psn_no=request.psn_no, visit=visit, chronic_disease_code=disease)


def _certify_command(
    request: filing_pb2.CertifyChronicDiseaseRequest | filing_pb2.FileChronicDiseaseRequest,
    source: chronic.CertificationSource,
) -> uc.CertifyCommand:
    v = Violations()
    request_id = _request_id(v, request)
    check_psn_no(v, request.psn_no)
    disease = chronic.read_disease_code(v, "disease_code", request.disease_code)
    start = parse_iso_date(v, "valid_from_date", request.valid_from_date, required=True)
    until = parse_iso_date(v, "valid_until_date", request.valid_until_date, required=False)
    hospital = None
    if isinstance(request, filing_pb2.FileChronicDiseaseRequest):
        hospital = request.hospital_code
        v.check(
            INSTITUTION_CODE_RE.fullmatch(hospital) is not None and hospital.startswith("H"),
            "hospital_code",
            "not a designated hospital code (H + pool + 5 digits)",
        )
    v.raise_if_any()
    assert start is not None
    return uc.CertifyCommand(
        psn_no=request.psn_no,
        channel_request_id=request_id,
        request=chronic.CertificationRequest(
            disease_code=disease,
            source=source,
            valid_from=start,
            valid_until=until,
            hospital_code=hospital,
            diagnosis_code=request.diagnosis_code or None,
        ),
    )


def _certification_id(request: Any) -> tuple[str, str]:
    v = Violations()
    request_id = _request_id(v, request)
    _text(
        v,
        CERTIFICATION_ID_RE,
        request.certification_id,
        "certification_id",
        "not a certification id",
    )
    v.raise_if_any()
    return request_id, request.certification_id


def _step_command(
    request: filing_pb2.ApproveChronicDiseaseRequest | filing_pb2.CancelChronicDiseaseRequest,
) -> uc.StepCommand:
    request_id, certification_id = _certification_id(request)
    return uc.StepCommand(certification_id=certification_id, channel_request_id=request_id)


def _psn_no(
    request: filing_pb2.GetPersonRequest
    | filing_pb2.ListFilingsRequest
    | filing_pb2.ListChronicCertificationsRequest,
) -> str:
    v = Violations()
    check_psn_no(v, request.psn_no)
    v.raise_if_any()
    return request.psn_no


def _filing_version(request: filing_pb2.GetFilingRequest) -> tuple[str, int]:
    v = Violations()
    _text(v, FILING_ID_RE, request.filing_id, "filing_id", "not a filing id")
    v.check(request.version >= 0, "version", "0 (current) or a version number")
    v.raise_if_any()
    return request.filing_id, request.version


def _certification_reply(response_type: type[M]) -> CertificationReply[M]:
    """The response of a certification step: the certification as it now stands."""
    return lambda c: response_type(certification=certification_pb(c))


def _figures_period(request: filing_pb2.GetChannelFiguresRequest) -> tuple[date, date]:
    v = Violations()
    if request.period:
        v.check(
            not request.start_date and not request.end_date,
            "period",
            "give either period or start_date and end_date, not both",
        )
        match = PERIOD_RE.fullmatch(request.period)
        if match is None:
            v.add("period", "a month YYYYMM")
        v.raise_if_any()
        assert match is not None
        year, month = int(match.group(1)), int(match.group(2))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    start = parse_iso_date(v, "start_date", request.start_date, required=True)
    end = parse_iso_date(v, "end_date", request.end_date, required=True)
    v.raise_if_any()
    assert start is not None and end is not None
    return start, end


def _region(text: str) -> str | None:
    if not text:
        return None
    if not (is_pool(text) or is_province(text)):
        raise InvalidArgument("insured_region", "not a known pool or province code")
    return text


def _page(page: common_pb2.PageRequest) -> tuple[PageKey | None, int]:
    if page.page_size < 0:
        raise InvalidArgument("page.page_size", "must not be negative")
    size = min(page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page.page_token:
        return None, size
    return _decode_token(page.page_token), size


def _encode_token(key: PageKey) -> str:
    raw = f"{key.submitted_on.isoformat()}|{key.filing_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> PageKey:
    bad = InvalidArgument("page.page_token", "not a token this service issued")
    if len(token) > MAX_PAGE_TOKEN_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        day, filing_id = raw.split("|", 1)
        key = PageKey(parse_national_date(day, "page.page_token"), filing_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidArgument) as exc:
        raise bad from exc
    if not FILING_ID_RE.fullmatch(key.filing_id):
        raise bad
    return key


# -- domain → response -----------------------------------------------------------------


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def person_pb(person: Person) -> filing_pb2.Person:
    return filing_pb2.Person(
        psn_no=person.psn_no,
        name=person.name,
        phone=person.phone or "",
        documents=[
            common_pb2.IdentityDocument(type=DOCUMENT_TYPES.number(d.doc_type), number=d.number)
            for d in person.documents
        ],
        insured_pool=person.insured_pool,
        insutype=pb_enums.INSUTYPE.number(person.insutype),
        insutype_code=person.insutype.value,
        person_type=pb_enums.PERSON_TYPE.number(person.person_type),
        assistance_category=pb_enums.ASSISTANCE_CATEGORY.number(person.assistance_category),
        sex=pb_enums.SEX.number(person.sex),
        birth_date=person.birth_date.isoformat(),
        acct_balance_fen=person.acct_balance_fen,
        revision=person.revision,
    )


def filing_pb(view: uc.FilingView) -> filing_pb2.Filing:
    f = view.filing
    message = filing_pb2.Filing(
        filing_id=f.filing_id,
        version=f.version,
        psn_no=view.psn_no,
        insured_pool=f.insured_pool,
        category=CATEGORIES.number(f.category),
        channel=CHANNELS.number(f.channel),
        status=STATUSES.number(f.status),
        valid_from_date=f.valid_from.isoformat(),
        valid_until_date=_iso(f.valid_until),
        submitted_date=f.submitted_on.isoformat(),
        cancelled_date=_iso(f.cancelled_on),
        policy_version=f.policy_version,
        ratio_reduction_bp=view.ratio_reduction_bp,
        long_term=f.is_long_term,
        change_lock_end_date=_iso(view.change_lock_ends_on),
    )
    if f.destination.pool_code:
        message.destination.pool_code = f.destination.pool_code
    else:
        assert f.destination.province_code, "a stored filing has a destination"
        message.destination.province_code = f.destination.province_code
    if f.referral is not None:
        message.referral.CopyFrom(
            filing_pb2.ReferralDetails(
                referring_hospital_code=f.referral.referring_hospital_code,
                hospital_code=f.referral.hospital_code,
                diagnosis_code=f.referral.diagnosis_code,
                diagnosis_name=f.referral.diagnosis_name,
            )
        )
    return message


def _submitted_pb(result: uc.Submitted) -> filing_pb2.SubmitFilingResponse:
    return filing_pb2.SubmitFilingResponse(
        filing=filing_pb(result.view),
        retroactive=result.retroactive,
        validity_extended=result.validity_extended,
    )


def _changed_pb(result: uc.Changed) -> filing_pb2.ChangeFilingResponse:
    response = filing_pb2.ChangeFilingResponse(filing=filing_pb(result.view))
    if result.superseded is not None:
        response.superseded.CopyFrom(filing_pb(result.superseded))
    return response


def _cancelled_pb(view: uc.FilingView) -> filing_pb2.CancelFilingResponse:
    return filing_pb2.CancelFilingResponse(filing=filing_pb(view))


def _coverage_pb(answer: uc.CoverageAnswer) -> filing_pb2.CheckCoverageResponse:
    c = answer.coverage
    return filing_pb2.CheckCoverageResponse(
        relation=pb_enums.RELATION.number(c.relation),
        allowed=c.allowed,
        basis=BASES.number(c.basis) if c.basis else filing_pb2.COVERAGE_BASIS_UNSPECIFIED,
        filing_id=c.filing_id or "",
        category=(
            CATEGORIES.number(c.category) if c.category else filing_pb2.FILING_CATEGORY_UNSPECIFIED
        ),
        ratio_reduction_bp=c.ratio_reduction_bp,
        local_ratio=c.local_ratio,
        reason_code=c.reason_code.value if c.reason_code else "",
        message=c.message,
        person=person_pb(answer.person),
        policy_version=answer.policy_version,
        certification=(certification_pb(answer.certification) if answer.certification else None),
    )


def certification_pb(c: chronic.ChronicCertification) -> filing_pb2.ChronicCertification:
    return filing_pb2.ChronicCertification(
        certification_id=c.certification_id,
        psn_no=c.psn_no,
        disease_code=c.disease_code,
        certifying_pool=c.certifying_pool,
        valid_from_date=c.valid_from.isoformat(),
        valid_until_date=_iso(c.valid_until),
        source=CERT_SOURCES.number(c.source),
        status=CERT_STATUSES.number(c.status),
        hospital_code=c.hospital_code or "",
        diagnosis_code=c.diagnosis_code or "",
        submitted_date=c.submitted_on.isoformat(),
        approved_date=_iso(c.approved_on),
        cancelled_date=_iso(c.cancelled_on),
        policy_version=c.policy_version,
    )


def _figures_pb(figures: ChannelFigures) -> filing_pb2.GetChannelFiguresResponse:
    return filing_pb2.GetChannelFiguresResponse(
        start_date=figures.period_start.isoformat(),
        end_date=figures.period_end.isoformat(),
        channels=[
            filing_pb2.ChannelCount(channel=CHANNELS.number(channel), filings=count)
            for channel, count in figures.filings_by_channel.items()
        ],
        filings_total=figures.filings_total,
        filings_online=figures.filings_online,
        online_share_bp=figures.online_share_bp,
        online_channels_used=figures.online_channels_used,
    )


# -- the servicer ----------------------------------------------------------------------


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {item.key: str(item.value) for item in context.invocation_metadata() or ()}


# What the factories below make is a method of FilingServicer, looked up by gRPC by its
# name; its signature is the generated base class's (the factories' arguments are what is
# checked), hence Any.
Rpc = Any


def _filing_rpc(
    action: str,
    command: Callable[[Q], C],
    use_case: Callable[
        [uc.FilingService, Caller, C, uc.RequestKey[M], Callable[[R], M]], Awaitable[M]
    ],
    render: Callable[[R], M],
    response_type: type[M],
) -> Rpc:
    """A filing write: the actor, the command read from the request, the request's key
    (scoped by the action, the channel and the caller), the use case."""

    async def rpc(self: FilingServicer, request: Q, context: grpc.aio.ServicerContext) -> M:
        who = await self._actor(context)
        cmd = command(request)
        key = _filing_key(who, action, cmd, request, response_type)
        return await use_case(self._filing, who, cmd, key, render)

    return rpc


def _certification_rpc(
    action: str,
    command: Callable[[Q], K],
    use_case: Callable[
        [uc.FilingService, Caller, K, uc.RequestKey[M], CertificationReply[M]], Awaitable[M]
    ],
    response_type: type[M],
) -> Rpc:
    """A certification write: the command read from the request, the key scoped by the
    action and the caller; the reply is the certification as it now stands."""

    async def rpc(self: FilingServicer, request: Q, context: grpc.aio.ServicerContext) -> M:
        cmd = command(request)
        who = caller()
        scope = f"filing.chronic.{action}.{who.code}"
        key = uc.RequestKey(scope, cmd.channel_request_id, request, response_type)
        return await use_case(self._filing, who, cmd, key, _certification_reply(response_type))

    return rpc


class FilingServicer(filing_pb2_grpc.FilingServiceServicer):
    def __init__(self, filing: uc.FilingService, verifier: EndUserVerifier) -> None:
        self._filing = filing
        self._verifier = verifier

    async def _actor(self, context: grpc.aio.ServicerContext) -> Caller:
        """The caller of a person-facing RPC; a channel with its verified end user."""
        who = caller()
        if who.kind is not CallerKind.CHANNEL:
            return who
        end_user = await self._verifier.verify(who.code, bearer_of(_metadata(context)))
        return dataclasses.replace(who, end_user=end_user)

    SubmitFiling = _filing_rpc(
        "submit",
        _submit_command,
        uc.FilingService.submit,
        _submitted_pb,
        filing_pb2.SubmitFilingResponse,
    )
    ChangeFiling = _filing_rpc(
        "change",
        _change_command,
        uc.FilingService.change,
        _changed_pb,
        filing_pb2.ChangeFilingResponse,
    )
    CancelFiling = _filing_rpc(
        "cancel",
        _cancel_command,
        uc.FilingService.cancel,
        _cancelled_pb,
        filing_pb2.CancelFilingResponse,
    )
    CertifyChronicDisease = _certification_rpc(
        "certify",
        partial(_certify_command, source=chronic.CertificationSource.AGENCY_DECISION),
        uc.FilingService.certify_chronic,
        filing_pb2.CertifyChronicDiseaseResponse,
    )
    FileChronicDisease = _certification_rpc(
        "file",
        partial(_certify_command, source=chronic.CertificationSource.HOSPITAL_APPLICATION),
        uc.FilingService.certify_chronic,
        filing_pb2.FileChronicDiseaseResponse,
    )
    CancelChronicDisease = _certification_rpc(
        "cancel",
        _step_command,
        uc.FilingService.cancel_chronic,
        filing_pb2.CancelChronicDiseaseResponse,
    )
    ApproveChronicDisease = _certification_rpc(
        "approve",
        _step_command,
        uc.FilingService.approve_chronic,
        filing_pb2.ApproveChronicDiseaseResponse,
    )

    async def UpsertPerson(
        self, request: filing_pb2.UpsertPersonRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.UpsertPersonResponse:
        person, created = await self._filing.upsert_person(caller(), _person_draft(request.person))
        return filing_pb2.UpsertPersonResponse(person=person_pb(person), created=created)

    async def GetPerson(
        self, request: filing_pb2.GetPersonRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.GetPersonResponse:
        key = request.WhichOneof("key")
        if key == "document":
            document = _document(request.document, "document")
            person = await self._filing.person_by_document(caller(), document)
        else:
            person = await self._filing.person_by_psn_no(caller(), _psn_no(request))
        return filing_pb2.GetPersonResponse(person=person_pb(person))

    async def GetFiling(
        self, request: filing_pb2.GetFilingRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.GetFilingResponse:
        who = await self._actor(context)
        filing_id, version = _filing_version(request)
        view = await self._filing.get_filing(who, filing_id, version)
        return filing_pb2.GetFilingResponse(filing=filing_pb(view))

    async def ListFilings(
        self, request: filing_pb2.ListFilingsRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.ListFilingsResponse:
        who = await self._actor(context)
        psn_no = _psn_no(request)
        after, size = _page(request.page)
        views, next_key = await self._filing.list_filings(who, psn_no, after, size)
        return filing_pb2.ListFilingsResponse(
            filings=[filing_pb(view) for view in views],
            next_page_token=_encode_token(next_key) if next_key else "",
        )

    async def CheckCoverage(
        self, request: filing_pb2.CheckCoverageRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.CheckCoverageResponse:
        answer = await self._filing.check_coverage(caller(), _coverage_query(request))
        return _coverage_pb(answer)

    async def GetChannelFigures(
        self, request: filing_pb2.GetChannelFiguresRequest, context: grpc.aio.ServicerContext
    ) -> filing_pb2.GetChannelFiguresResponse:
        start, end = _figures_period(request)
        region = _region(request.insured_region)
        figures = await self._filing.channel_figures(caller(), start, end, region)
        return _figures_pb(figures)

    async def ListChronicCertifications(
        self,
        request: filing_pb2.ListChronicCertificationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> filing_pb2.ListChronicCertificationsResponse:
        found = await self._filing.list_certifications(caller(), _psn_no(request))
        return filing_pb2.ListChronicCertificationsResponse(
            certifications=[certification_pb(c) for c in found]
        )
