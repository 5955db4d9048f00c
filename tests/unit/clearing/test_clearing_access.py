"""Who may act on what in clearing."""

from __future__ import annotations

import pytest

from services.clearing.access import (
    party_of,
    require_institution,
    require_payment_recorder,
    require_resolver,
    require_trusted,
    viewer_of,
)
from services.clearing.domain.lifecycle import Party
from services.clearing.domain.netting import InstructionLeg
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
