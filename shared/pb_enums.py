"""The one mapping between the shared vocabulary's enums and the protos' enums.

Table-driven: a proto enum value ``<PREFIX><NAME>`` is the vocabulary member ``NAME``
(``UNSPECIFIED``, number 0, is no member), unless the table names the proto value
for a member (``names``). Every member must have its proto value and
every proto value but ``UNSPECIFIED`` (and those the table lists as ``outside``) its
member; this is checked when a map is built,
so a vocabulary or proto change that breaks the pairing fails at import.

Servicers translate with these maps only (``member`` for requests — None for an unset or
unknown number — and ``number`` for responses).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from shared import vocabulary
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.reference.v1 import reference_pb2

E = TypeVar("E", bound=Enum)


class EnumMap(Generic[E]):
    """proto enum number ⇄ domain enum member, matched by name."""

    def __init__(
        self,
        pb_enum: Any,
        prefix: str,
        domain: type[E],
        *,
        names: Mapping[E, str] | None = None,
        outside: frozenset[str] = frozenset(),
        complete: bool = True,
    ) -> None:
        self.pb_enum = pb_enum
        self.prefix = prefix
        self.domain = domain
        self.outside = outside
        named = names or {}
        by_number = {int(pb_enum.Value(f"{prefix}{named.get(m, m.name)}")): m for m in domain}
        if complete:
            unmatched = {
                name
                for name, number in pb_enum.items()
                if number != 0
                and number not in by_number
                and name.removeprefix(prefix) not in outside
            }
            assert not unmatched, f"proto values without a {domain.__name__} member: {unmatched}"
        self.by_number: Mapping[int, E] = MappingProxyType(by_number)
        # Any: each proto enum has its own ValueType; the numbers come from that very enum.
        self.by_member: Mapping[E, Any] = MappingProxyType(
            {member: number for number, member in by_number.items()}
        )

    def member(self, number: int) -> E | None:
        """The member a request's number names; None for unset (0) or unknown."""
        return self.by_number.get(number)

    def number(self, member: E) -> Any:
        return self.by_member[member]


INSUTYPE = EnumMap(
    common_pb2.InsuranceType,
    "INSURANCE_TYPE_",
    vocabulary.Insutype,
    names={
        vocabulary.Insutype.EMPLOYEE: "EMPLOYEE_BASIC",
        vocabulary.Insutype.RESIDENT: "RESIDENT_BASIC",
    },
)
PERSON_TYPE = EnumMap(common_pb2.PersonType, "PERSON_TYPE_", vocabulary.PersonType)
ASSISTANCE_CATEGORY = EnumMap(
    common_pb2.AssistanceCategory, "ASSISTANCE_CATEGORY_", vocabulary.AssistanceCategory
)
RELATION = EnumMap(common_pb2.Relation, "RELATION_", vocabulary.Relation)
# The proto's fund_type also names the patient's cash (CASH), the enterprise supplement
# (HIFES) and "other" (OTH): no fund of the vocabulary's table.
FUND_TYPE = EnumMap(
    common_pb2.FundType,
    "FUND_TYPE_",
    vocabulary.FundType,
    outside=frozenset({"CASH", "HIFES", "OTH"}),
)

MED_TYPE = EnumMap(common_pb2.MedType, "MED_TYPE_", vocabulary.VisitType)
# A person's sex (filing) and an item's gender restriction (the catalogue download).
SEX = EnumMap(filing_pb2.Sex, "SEX_", vocabulary.Sex)
GENDER = EnumMap(reference_pb2.Gender, "GENDER_", vocabulary.Sex)

VOCABULARY_MAPS: tuple[EnumMap[Any], ...] = (
    INSUTYPE,
    PERSON_TYPE,
    ASSISTANCE_CATEGORY,
    RELATION,
    FUND_TYPE,
    MED_TYPE,
    SEX,
    GENDER,
)
