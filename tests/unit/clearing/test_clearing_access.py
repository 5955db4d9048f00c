"""Who may act on what in clearing."""

from __future__ import annotations

import pytest

from services.clearing.access import (
    party_of,
    require_institution,
    require_institution_kind,
    require_instruction_recorder,
    require_payment_recorder,
    require_resolver,
    require_statement_party,
    require_statement_reader,
    require_statement_resolver,
    require_trusted,
    viewer_of,
)
from services.clearing.domain.lifecycle import Party
from services.clearing.domain.netting import InstructionLeg, instruction_id_of, parse_instruction_id
from services.clearing.domain.periods import Period
from shared.auth import parse_caller
from shared.errors import InvalidArgument, PermissionDenied

NANNING, LIUZHOU, GUANGZHOU, SHENZHEN = "450100", "450200", "440100", "440300"


@pytest.mark.parametrize(
    ("code", "pair", "requested", "party"),
    [
        (NANNING, (NANNING, GUANGZHOU), None, Party.INSURED),
        (GUANGZHOU, (NANNING, GUANGZHOU), None, Party.TREATMENT),
        ("45", (NANNING, GUANGZHOU), None, Party.INSURED),
        ("44", (SHENZHEN, GUANGZHOU), Party.TREATMENT, Party.TREATMENT),
        ("op-month-end", (SHENZHEN, GUANGZHOU), Party.INSURED, Party.INSURED),
        ("NHSA", (NANNING, GUANGZHOU), Party.TREATMENT, Party.TREATMENT),
    ],
)
def test_party_of_a_statement(
    code: str, pair: tuple[str, str], requested: Party | None, party: Party
) -> None:
    assert party_of(parse_caller(code), *pair, requested) is party


@pytest.mark.parametrize(
    ("code", "pair", "requested"),
    [
        (NANNING, (SHENZHEN, GUANGZHOU), None),  # Guangxi pool, Guangdong-only statement
        ("45", (SHENZHEN, GUANGZHOU), None),
        ("H45010000001", (NANNING, GUANGZHOU), None),
        (NANNING, (NANNING, GUANGZHOU), Party.TREATMENT),  # not its side
        ("channel-app", (NANNING, GUANGZHOU), None),
    ],
)
def test_non_parties_are_denied(code: str, pair: tuple[str, str], requested: Party | None) -> None:
    with pytest.raises(PermissionDenied):
        party_of(parse_caller(code), *pair, requested)


@pytest.mark.parametrize("code", ["44", "op-cli", "NHSA"])
def test_a_caller_for_both_sides_names_its_party(code: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        party_of(parse_caller(code), SHENZHEN, GUANGZHOU, None)
    assert error.value.violations[0].field == "party"


def test_month_end_steps_need_a_trusted_caller() -> None:
    for code in ("op-cli", "NHSA", "svc-simulator"):
        require_trusted(parse_caller(code), "close a period")
    for code in (NANNING, "45", "H45010000001"):
        with pytest.raises(PermissionDenied):
            require_trusted(parse_caller(code), "close a period")


def test_dispute_resolvers() -> None:
    require_resolver(parse_caller("45"), NANNING, LIUZHOU)  # inside its province
    require_resolver(parse_caller("NHSA"), NANNING, GUANGZHOU)
    for code in ("45", "44", NANNING):
        with pytest.raises(PermissionDenied):
            require_resolver(parse_caller(code), NANNING, GUANGZHOU)


def test_payment_recorders() -> None:
    require_payment_recorder(parse_caller("45"), InstructionLeg.PROVINCIAL, "45")
    require_payment_recorder(parse_caller("45"), InstructionLeg.ALLOCATION, "45")
    require_payment_recorder(parse_caller("op-cli"), InstructionLeg.NATIONAL, "NATIONAL")
    for code, leg, scope in [
        ("45", InstructionLeg.NATIONAL, "NATIONAL"),
        ("45", InstructionLeg.PROVINCIAL, "44"),
        (NANNING, InstructionLeg.PROVINCIAL, "45"),
    ]:
        with pytest.raises(PermissionDenied):
            require_payment_recorder(parse_caller(code), leg, scope)


def test_viewers() -> None:
    pool = viewer_of(parse_caller(NANNING))
    assert (pool.pool, pool.centre, pool.province) == (NANNING, None, "45")
    assert pool.sees_scope("45") and pool.sees_scope("NATIONAL") and not pool.sees_scope("44")
    assert pool.instruction_parties() == (NANNING,)
    centre = viewer_of(parse_caller("44"))
    assert centre.instruction_parties() == ("44", "CENTRE-44")
    assert viewer_of(parse_caller("op-cli")).everything
    with pytest.raises(PermissionDenied):
        viewer_of(parse_caller("H45010000001"))


def test_institutions_act_on_their_own_applications() -> None:
    require_institution(parse_caller("H44010000001"), "H44010000001")
    require_institution(parse_caller("op-cli"), "H44010000001")
    for code in ("H44010000002", GUANGZHOU, "44"):
        with pytest.raises(PermissionDenied):
            require_institution(parse_caller(code), "H44010000001")


# -- before any lookup: judged on the id alone -------------------------------------------

PERIOD = Period(2025, 1)
GX_PROVINCIAL = instruction_id_of(PERIOD, InstructionLeg.PROVINCIAL, "45", LIUZHOU, "CENTRE-45")
GX_ALLOCATION = instruction_id_of(PERIOD, InstructionLeg.ALLOCATION, "45", "CENTRE-45", NANNING)
NATIONAL = instruction_id_of(PERIOD, InstructionLeg.NATIONAL, "NATIONAL", "45", "NATIONAL")


def test_instruction_ids_name_their_leg_and_scope() -> None:
    assert parse_instruction_id(GX_PROVINCIAL) == (PERIOD, InstructionLeg.PROVINCIAL, "45")
    assert parse_instruction_id(GX_ALLOCATION) == (PERIOD, InstructionLeg.ALLOCATION, "45")
    assert parse_instruction_id(NATIONAL) == (PERIOD, InstructionLeg.NATIONAL, "NATIONAL")
    for text in ("", "x", "202501-PROVINCIAL-45", "202513-PROVINCIAL-45-a-b", "202501-LOCAL-45-a"):
        assert parse_instruction_id(text) is None, text


@pytest.mark.parametrize("code", ["H45010000001", "P45010000001", NANNING, "channel-app"])
def test_kinds_that_never_record_payments_are_refused_whatever_the_id(code: str) -> None:
    for instruction_id in (GX_PROVINCIAL, NATIONAL, "nothing-like-an-id"):
        with pytest.raises(PermissionDenied) as refused:
            require_instruction_recorder(parse_caller(code), instruction_id)
        assert instruction_id not in refused.value.message  # one answer for every id


def test_province_centres_record_their_own_legs_only() -> None:
    require_instruction_recorder(parse_caller("45"), GX_PROVINCIAL)
    require_instruction_recorder(parse_caller("45"), GX_ALLOCATION)
    require_instruction_recorder(parse_caller("op-cli"), NATIONAL)
    require_instruction_recorder(parse_caller("op-cli"), "nothing-like-an-id")  # → NOT_FOUND
    for code, instruction_id in [("44", GX_PROVINCIAL), ("45", NATIONAL), ("45", "junk")]:
        with pytest.raises(PermissionDenied):
            require_instruction_recorder(parse_caller(code), instruction_id)


GD_ONLY = f"{PERIOD}-{SHENZHEN}-{GUANGZHOU}"
GX_TO_GD = f"{PERIOD}-{NANNING}-{GUANGZHOU}"
GX_ONLY = f"{PERIOD}-{LIUZHOU}-{NANNING}"


def test_statements_are_read_by_their_parties_only() -> None:
    for code, statement_id in [(NANNING, GX_TO_GD), ("44", GX_TO_GD), ("op-cli", "junk")]:
        require_statement_reader(parse_caller(code), statement_id)
    for code, statement_id in [
        (NANNING, GD_ONLY),
        ("45", GD_ONLY),
        (NANNING, "junk"),
        ("H45010000001", GX_TO_GD),
        ("channel-web", GX_TO_GD),
    ]:
        with pytest.raises(PermissionDenied):
            require_statement_reader(parse_caller(code), statement_id)


def test_statements_are_confirmed_by_their_parties_only() -> None:
    require_statement_party(parse_caller(GUANGZHOU), GX_TO_GD, None)
    require_statement_party(parse_caller("op-cli"), GD_ONLY, None)  # names its side later
    for code, statement_id, party in [
        (NANNING, GD_ONLY, None),
        (NANNING, GX_TO_GD, Party.TREATMENT),
        ("H44010000001", GD_ONLY, None),
        ("44", "junk", None),
    ]:
        with pytest.raises(PermissionDenied):
            require_statement_party(parse_caller(code), statement_id, party)
    with pytest.raises(InvalidArgument):
        require_statement_party(parse_caller("44"), GD_ONLY, None)


def test_disputes_are_resolved_inside_the_province_or_by_trusted_callers() -> None:
    require_statement_resolver(parse_caller("45"), GX_ONLY)
    require_statement_resolver(parse_caller("NHSA"), GX_TO_GD)
    for code, statement_id in [("45", GX_TO_GD), ("44", GX_ONLY), (NANNING, GX_ONLY)]:
        with pytest.raises(PermissionDenied):
            require_statement_resolver(parse_caller(code), statement_id)


def test_only_institutions_act_on_applications() -> None:
    for code in ("H44010000001", "P44010000001", "op-cli"):
        require_institution_kind(parse_caller(code), "cancel clearing applications")
    for code in (GUANGZHOU, "44", "channel-app"):
        with pytest.raises(PermissionDenied):
            require_institution_kind(parse_caller(code), "cancel clearing applications")
