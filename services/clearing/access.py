"""Who may do what in clearing. Pure rules over the authenticated caller.

- Month-end steps and advance-fund changes: trusted callers only (operators, the
  national centre, crossclear services). They act for the whole clearing system.
- A statement has two parties: the insured pool (pays) and the treatment pool
  (receives). A party is represented by its pool agency or by its province centre; a
  trusted caller may act for either side but must then say which.
- Disputes are decided by trusted callers, or by the province centre for a statement
  between two pools of its own province (it clears them).
- Payments pass through hubs; the province centre records those of its own province's
  provincial and allocation legs, trusted callers any.
- Hospitals (and pharmacies) see and act on their own clearing applications only.

Authorise before lookup: every use case checks the caller here before it reads anything.
A caller whose kind can never be allowed is refused outright; a request naming an object
by id is then judged on what the id itself says (a statement id names its period and
pools, a payment instruction id its leg and scope), so a caller not allowed on such an
object gets PERMISSION_DENIED whether or not it exists, in words that do not depend on
it. NOT_FOUND is only ever said to a caller about an id within its own reach. An
application id names no hospital: an institution naming one that is not its own, or
none at all, is refused alike (``institution_application_denied``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.clearing.domain.lifecycle import Party
from services.clearing.domain.netting import InstructionLeg, parse_instruction_id
from services.clearing.domain.pools import NATIONAL_SCOPE, provincial_hub
from services.clearing.domain.statements import PoolPair, parse_statement_id
from shared.auth import Caller, CallerKind
from shared.errors import InvalidArgument, PermissionDenied


def require_trusted(caller: Caller, what: str) -> None:
    if not caller.is_trusted:
        raise PermissionDenied(
            f"caller {caller.code} ({caller.kind.value}) may not {what}: "
            "operators and the national centre only"
        )


def party_of(
    caller: Caller, insured_pool: str, treatment_pool: str, requested: Party | None
) -> Party:
    """The side the caller acts for on a statement between these pools."""
    sides = [
        party
        for party, pool in ((Party.INSURED, insured_pool), (Party.TREATMENT, treatment_pool))
        if caller.may_act_for_pool(pool)
    ]
    if not sides:
        raise PermissionDenied(
            f"caller {caller.code} is not a party to the statement {insured_pool}→{treatment_pool}"
        )
    if requested is not None:
        if requested not in sides:
            raise PermissionDenied(
                f"caller {caller.code} may not act as the {requested.value} party here"
            )
        return requested
    if len(sides) > 1:
        raise InvalidArgument("party", "the caller represents both sides: name the party")
    return sides[0]


def may_see_pair(caller: Caller, insured_pool: str, treatment_pool: str) -> bool:
    return caller.may_act_for_pool(insured_pool) or caller.may_act_for_pool(treatment_pool)


def require_resolver(caller: Caller, insured_pool: str, treatment_pool: str) -> None:
    if caller.is_trusted:
        return
    province = caller.code if caller.kind is CallerKind.PROVINCE_CENTRE else None
    both_in_province = province is not None and all(
        pool.startswith(province) for pool in (insured_pool, treatment_pool)
    )
    if not both_in_province:
        raise PermissionDenied(
            f"caller {caller.code} may not resolve disputes on {insured_pool}→{treatment_pool}: "
            "operators, the national centre, or the province centre of both pools"
        )


def require_payment_recorder(caller: Caller, leg: InstructionLeg, scope: str) -> None:
    if caller.is_trusted:
        return
    own_leg = leg in (InstructionLeg.PROVINCIAL, InstructionLeg.ALLOCATION)
    if not (caller.kind is CallerKind.PROVINCE_CENTRE and own_leg and scope == caller.code):
        raise PermissionDenied(
            f"caller {caller.code} may not record payments of the {leg.value} leg of {scope}"
        )


@dataclass(frozen=True)
class Viewer:
    """What a caller may read: everything, or what concerns its pool or its province.

    ``pool`` is set for a pool agency, ``centre`` (a province code) for a province
    centre; statements, instructions and advance funds are filtered by these. Netting
    scopes are wider: any agency of a province sees its province's levels and the
    national one, since multilateral results are shared by every party of a level.
    """

    everything: bool
    pool: str | None
    centre: str | None

    @property
    def province(self) -> str | None:
        return self.centre or (self.pool[:2] if self.pool else None)

    def sees_scope(self, scope: str) -> bool:
        return self.everything or scope in (self.province, NATIONAL_SCOPE)

    def instruction_parties(self) -> tuple[str, ...]:
        """Payer/payee codes an instruction must name for this viewer to see it."""
        if self.pool is not None:
            return (self.pool,)
        assert self.centre is not None
        return (self.centre, provincial_hub(self.centre))


# What a trusted caller sees.
EVERYTHING = Viewer(everything=True, pool=None, centre=None)


def viewer_of(caller: Caller) -> Viewer:
    if caller.is_trusted:
        return EVERYTHING
    if caller.kind is CallerKind.POOL_AGENCY:
        return Viewer(everything=False, pool=caller.code, centre=None)
    if caller.kind is CallerKind.PROVINCE_CENTRE:
        return Viewer(everything=False, pool=None, centre=caller.code)
    raise PermissionDenied(
        f"caller {caller.code} ({caller.kind.value}) has no access to clearing statements"
    )


def require_institution(caller: Caller, hospital_code: str) -> None:
    """A hospital or pharmacy acts on its own applications; trusted callers on any."""
    if caller.is_trusted:
        return
    institution = caller.kind in (CallerKind.HOSPITAL, CallerKind.PHARMACY)
    if not (institution and caller.code == hospital_code):
        raise PermissionDenied(
            f"caller {caller.code} may not act on clearing applications of {hospital_code}"
        )


# -- before any lookup ----------------------------------------------------------------------

_PARTY_KINDS = (CallerKind.POOL_AGENCY, CallerKind.PROVINCE_CENTRE)
_INSTITUTION_KINDS = (CallerKind.HOSPITAL, CallerKind.PHARMACY)


def _require_kind(caller: Caller, kinds: tuple[CallerKind, ...], what: str) -> None:
    if not (caller.is_trusted or caller.kind in kinds):
        raise PermissionDenied(f"caller {caller.code} ({caller.kind.value}) may not {what}")


def _statement_pair(caller: Caller, statement_id: str, what: str) -> PoolPair | None:
    """The pools the id names, for a caller of a party's kind that may see them; None for
    a trusted caller (who may see any)."""
    _require_kind(caller, _PARTY_KINDS, what)
    if caller.is_trusted:
        return None
    parsed = parse_statement_id(statement_id)
    if parsed is None or not may_see_pair(caller, *parsed[1]):
        raise PermissionDenied(f"caller {caller.code} is not a party to statement {statement_id}")
    return parsed[1]


def require_statement_reader(caller: Caller, statement_id: str) -> None:
    """GetStatement: a pool agency or province centre of one of the pools the id names."""
    _statement_pair(caller, statement_id, "read clearing statements")


def require_statement_party(caller: Caller, statement_id: str, requested: Party | None) -> None:
    """ConfirmStatement, DisputeStatement: a side of the pair the id names, the one asked
    for if any (party_of's rules on the id's pools)."""
    pair = _statement_pair(caller, statement_id, "confirm or dispute clearing statements")
    if pair is not None:
        party_of(caller, *pair, requested)


def require_statement_resolver(caller: Caller, statement_id: str) -> None:
    """ResolveDispute: trusted, or the province centre of both pools the id names."""
    _require_kind(caller, (CallerKind.PROVINCE_CENTRE,), "resolve disputes")
    if caller.is_trusted:
        return
    parsed = parse_statement_id(statement_id)
    if parsed is None or not all(pool.startswith(caller.code) for pool in parsed[1]):
        raise PermissionDenied(
            f"caller {caller.code} may not resolve disputes on statement {statement_id}: "
            "operators, the national centre, or the province centre of both pools"
        )
    require_resolver(caller, *parsed[1])


def require_instruction_recorder(caller: Caller, instruction_id: str) -> None:
    """RecordPayment: trusted, or a province centre for its own provincial and allocation
    legs, as the id names them."""
    _require_kind(caller, (CallerKind.PROVINCE_CENTRE,), "record payments")
    if caller.is_trusted:
        return
    parsed = parse_instruction_id(instruction_id)
    if parsed is None:
        raise PermissionDenied(
            f"caller {caller.code} may not record payments of instruction {instruction_id}"
        )
    _, leg, scope = parsed
    require_payment_recorder(caller, leg, scope)


def require_institution_kind(caller: Caller, what: str) -> None:
    """Clearing applications: hospitals and pharmacies, or trusted callers for them."""
    _require_kind(caller, _INSTITUTION_KINDS, what)


def institution_application_denied(caller: Caller, application_id: str) -> PermissionDenied:
    """The one answer to an institution naming an application not its own, or none."""
    return PermissionDenied(f"caller {caller.code} has no clearing application {application_id}")
