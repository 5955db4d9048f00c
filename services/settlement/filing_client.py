"""The filing service as settlement sees it: a person and a coverage decision.

Settlement calls the filing service as ``svc-settlement``: over mutual TLS its
certificate names it; in development mode the caller header does. Every call has a
deadline, and none is made while a database transaction is open — a slow filing service
must never hold row locks that other hospitals' settlements wait for.
"""

from __future__ import annotations

from datetime import date
from typing import Final

import grpc

from services.settlement.domain.codes import AssistanceCategory, ChronicDisease, VisitType
from services.settlement.domain.encounter import Coverage, PersonSnapshot
from services.settlement.national_codes import med_type_enum
from shared import pb_enums
from shared.config import Settings
from shared.errors import FailedPrecondition, InvalidArgument, NotFound
from shared.faults import Unavailable
from shared.grpc_client import caller_metadata, development_server_name, open_channel
from shared.grpc_errors import field_violations_of
from shared.identity import DocumentType
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc
from shared.vocabulary import parse_national_date

CALLER_CODE: Final = "svc-settlement"
CALL_TIMEOUT_S: Final = 3.0
_UNAVAILABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_DOCUMENT_TYPE = pb_enums.EnumMap(common_pb2.DocumentType, "DOCUMENT_TYPE_", DocumentType)


class FilingUnavailable(Unavailable):
    """The filing service did not answer in time: the hospital should retry."""


class FilingClient:
    def __init__(self, settings: Settings) -> None:
        target = settings.filing_target
        self._channel = open_channel(target, settings.tls_dir, development_server_name(target))
        self._stub = filing_pb2_grpc.FilingServiceStub(self._channel)
        # Only a development server honours this header; under TLS the certificate speaks.
        self._metadata = caller_metadata(CALLER_CODE) if settings.tls_dir is None else None

    async def close(self) -> None:
        await self._channel.close()

    async def check_coverage(
        self,
        *,
        psn_no: str,
        treatment_pool: str,
        treatment_date: date,
        visit_type: VisitType,
        emergency: bool,
        hospital_code: str,
        chronic_disease: ChronicDisease | None = None,
    ) -> tuple[PersonSnapshot, Coverage]:
        """``chronic_disease``: the disease of a chronic/special outpatient visit; the filing
        service then also requires the insured pool's certification of it
        (CHRONIC_DISEASE_NOT_CERTIFIED). Sent for chronic visits only."""
        disease = chronic_disease if visit_type is VisitType.CHRONIC_OUTPATIENT else None
        request = filing_pb2.CheckCoverageRequest(
            psn_no=psn_no,
            treatment_pool=treatment_pool,
            treatment_date=treatment_date.isoformat(),
            med_type=med_type_enum(visit_type),
            emergency=emergency,
            hospital_code=hospital_code,
            chronic_disease_code=disease.value if disease is not None else "",
        )
        try:
            response = await self._stub.CheckCoverage(
                request, timeout=CALL_TIMEOUT_S, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _mapped(error, "psn_no") from None
        return person_of(response.person), coverage_of(response)

    async def find_person(self, document_type: DocumentType, number: str) -> PersonSnapshot:
        document = common_pb2.IdentityDocument(
            type=_DOCUMENT_TYPE.number(document_type), number=number
        )
        request = filing_pb2.GetPersonRequest(document=document)
        try:
            response = await self._stub.GetPerson(
                request, timeout=CALL_TIMEOUT_S, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise _mapped(error, "mdtrt_cert_no") from None
        return person_of(response.person)


def _mapped(error: grpc.aio.AioRpcError, field: str) -> Exception:
    code = error.code()
    if code in _UNAVAILABLE:
        return FilingUnavailable(f"filing service: {code.name}: {error.details()}")
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFound(f"no insured person for this {field}")
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        # The person's identifiers are the only input we pass on unchecked in full.
        described = "; ".join(field_violations_of(error)) or (error.details() or "invalid")
        return InvalidArgument(field, described)
    failure: Exception = error
    return failure  # anything else is our bug or theirs: INTERNAL, with the log entry


def person_of(person: filing_pb2.Person) -> PersonSnapshot:
    try:
        birth_date = parse_national_date(person.birth_date, "birth_date")
        insutype = pb_enums.INSUTYPE.member(person.insutype)
        person_type = pb_enums.PERSON_TYPE.member(person.person_type)
        if insutype is None or person_type is None:
            raise ValueError("insurance type or person type unset")
        sex = pb_enums.SEX.member(person.sex)
        if sex is None:
            raise ValueError("sex unset")
    except (ValueError, KeyError, InvalidArgument):
        raise FailedPrecondition(
            "PERSON_RECORD_INCOMPLETE",
            f"the insured pool's record of {person.psn_no} lacks its insurance type, "
            "person type, sex or birth date",
        ) from None
    return PersonSnapshot(
        psn_no=person.psn_no,
        name=person.name,
        insured_pool=person.insured_pool,
        insutype=insutype,
        person_type=person_type,
        sex=sex,
        birth_date=birth_date,
        maf_category=_maf_category_of(person.assistance_category),
        acct_opening_balance_fen=max(0, person.acct_balance_fen),
    )


def _maf_category_of(number: int) -> AssistanceCategory | None:
    """The person's assistance category; None for NONE, unset or unknown (no assistance)."""
    category = pb_enums.ASSISTANCE_CATEGORY.member(number)
    return None if category is AssistanceCategory.NONE else category


def _relation_of(number: int) -> str:
    relation = pb_enums.RELATION.member(number)
    return "UNSPECIFIED" if relation is None else relation.value


def coverage_of(response: filing_pb2.CheckCoverageResponse) -> Coverage:
    allowed = response.allowed
    basis = filing_pb2.CoverageBasis.Name(response.basis).removeprefix("COVERAGE_BASIS_")
    category = filing_pb2.FilingCategory.Name(response.category).removeprefix("FILING_CATEGORY_")
    return Coverage(
        relation=_relation_of(response.relation),
        allowed=allowed,
        basis=basis if allowed else "",
        filing_id=response.filing_id,
        filing_category="" if category == "UNSPECIFIED" else category,
        ratio_reduction_bp=response.ratio_reduction_bp,
        local_ratio=response.local_ratio,
        reason_code="" if allowed else (response.reason_code or "COVERAGE_REFUSED"),
        message=response.message,
    )
