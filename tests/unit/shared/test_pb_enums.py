"""The one vocabulary ⇄ proto enum mapping: every proto value maps both ways."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any

import pytest

from shared import pb_enums, vocabulary
from shared.pb.crossclear.common.v1 import common_pb2
from shared.pb_enums import EnumMap


@pytest.mark.parametrize("mapping", pb_enums.VOCABULARY_MAPS, ids=lambda m: m.prefix)
def test_every_proto_value_maps_both_ways(mapping: EnumMap[Any]) -> None:
    pb_enum = mapping.pb_enum
    numbers = [
        number
        for name, number in pb_enum.items()
        if number != 0 and name.removeprefix(mapping.prefix) not in mapping.outside
    ]
    assert numbers, "the proto enum has values"
    for number in numbers:
        member = mapping.member(number)
        assert member is not None, pb_enum.Name(number)
        assert mapping.number(member) == number
    assert {mapping.number(m) for m in mapping.domain} == set(numbers)


def test_unset_and_unknown_numbers_name_no_member() -> None:
    assert pb_enums.ASSISTANCE_CATEGORY.member(0) is None
    assert pb_enums.ASSISTANCE_CATEGORY.member(999) is None


def test_minimum_living_is_the_public_name_of_dibao() -> None:
    member = pb_enums.ASSISTANCE_CATEGORY.member(common_pb2.ASSISTANCE_CATEGORY_MINIMUM_LIVING)
    assert member is vocabulary.AssistanceCategory.MINIMUM_LIVING


def test_med_type_and_sex_are_numbered_by_their_national_codes() -> None:
    for visit in vocabulary.VisitType:
        assert pb_enums.MED_TYPE.number(visit) == int(visit.value)
    for sex in vocabulary.Sex:
        assert pb_enums.SEX.number(sex) == int(sex.value)
        assert pb_enums.GENDER.number(sex) == int(sex.value)


def test_insutype_is_named_by_the_table_and_numbered_by_its_code() -> None:
    assert [i.value for i in vocabulary.Insutype] == ["310", "390"]
    for insutype in vocabulary.Insutype:
        assert pb_enums.INSUTYPE.number(insutype) == int(insutype.value)


def test_a_member_without_its_proto_value_fails_the_build() -> None:
    class Extra(StrEnum):
        NONE = "NONE"
        OTHER = "OTHER"

    with pytest.raises(ValueError):
        EnumMap(common_pb2.AssistanceCategory, "ASSISTANCE_CATEGORY_", Extra)


def test_a_proto_value_without_its_member_fails_the_build() -> None:
    class Short(Enum):
        NONE = "NONE"

    with pytest.raises(AssertionError):
        EnumMap(common_pb2.AssistanceCategory, "ASSISTANCE_CATEGORY_", Short)
