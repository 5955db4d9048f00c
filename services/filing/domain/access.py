"""Who may do what with persons and filings.

- Trusted callers (crossclear services, operators, the national platform) may do
  everything: settlement asks for coverage, the simulator files on people's behalf.
- A pool agency acts for the persons insured in its pool, a province centre for those of
  its province's pools: it maintains their records, reads them, and files for them at
  its service counter (channel COUNTER only — an agency is not an online channel).
- A channel serves the end user signed in to it, proven by a token of the channel's
  identity provider (``shared.enduser``): an online channel (app, mini-program, web) acts
  for the one person the token names — it files, changes, cancels and reads that
  person's filings only, through its own channel; the counter acts with a clerk's token
  for the persons insured in the clerk's pool. Without a verified end user a channel may
  do nothing here. It does not read person records or coverage: a channel learns the
  person's number from its own sign-in, and coverage is settlement's business.
- A designated hospital files the referrals it makes (national 2501) and cancels them
  (2502), through its medical-insurance office counter (channel COUNTER).
"""

from __future__ import annotations

from types import MappingProxyType

from services.filing.domain.model import Channel
from shared.auth import Caller, CallerKind, EndUserKind
from shared.errors import PermissionDenied

CHANNEL_OF_CALLER = MappingProxyType(
    {
        "channel-app": Channel.APP,
        "channel-mini-program": Channel.MINI_PROGRAM,
        "channel-web": Channel.WEB,
        "channel-counter": Channel.COUNTER,
    }
)
_AGENCIES = (CallerKind.POOL_AGENCY, CallerKind.PROVINCE_CENTRE)
POOL_CODE_CHARS = 6


def channel_of(caller: Caller) -> Channel | None:
    """The channel a channel caller is; None for every other kind of caller."""
    if caller.kind is not CallerKind.CHANNEL:
        return None
    channel = CHANNEL_OF_CALLER.get(caller.code)
    assert channel is not None, "every channel caller code names a channel"
    return channel


def _denied(caller: Caller, what: str) -> PermissionDenied:
    return PermissionDenied(f"caller {caller.code} ({caller.kind.value}) may not {what}")


def check_channel_end_user(caller: Caller, insured_pool: str, psn_no: str | None) -> None:
    """A channel acts only for its verified end user: the person the token names (their
    filings: ``psn_no``; None while not known yet, when the pool must be the person's), or
    a counter clerk for the persons of the clerk's pool."""
    end_user = caller.end_user
    if end_user is None:
        raise _denied(caller, "act without a signed-in end user (bearer token)")
    if end_user.kind is EndUserKind.STAFF:
        if end_user.pool != insured_pool:
            raise _denied(
                caller, f"act for persons of pool {insured_pool} (clerk of {end_user.pool})"
            )
        return
    if psn_no is not None and psn_no != end_user.subject:
        raise _denied(caller, "act for another person than the one signed in")
    if psn_no is None and not end_user.subject.startswith(insured_pool):
        raise _denied(caller, "act for another person than the one signed in")


def check_may_file(
    caller: Caller,
    channel: Channel,
    insured_pool: str,
    referring_hospital: str | None = None,
    psn_no: str | None = None,
) -> None:
    """Submit, change or cancel a filing through ``channel`` for a person of ``insured_pool``.

    ``referring_hospital`` is the referring hospital of a referral filing, which that
    hospital may submit and cancel itself; None when the action is not open to hospitals.
    ``psn_no`` is the person the filing is for, once known: a channel acts only for its
    signed-in person (or, at the counter, a clerk for the persons of their pool).
    """
    if caller.is_trusted:
        return
    if caller.kind is CallerKind.CHANNEL:
        if channel_of(caller) is not channel:
            raise _denied(caller, f"file through channel {channel}; only through its own")
        check_channel_end_user(caller, insured_pool, psn_no)
        return
    if channel is not Channel.COUNTER:
        raise _denied(caller, f"file through channel {channel}: it files at a counter (COUNTER)")
    if caller.kind in _AGENCIES:
        if not caller.may_act_for_pool(insured_pool):
            raise _denied(caller, f"file for persons insured in pool {insured_pool}")
        return
    if caller.kind is CallerKind.HOSPITAL and referring_hospital == caller.code:
        return
    raise _denied(caller, "file for this person")


def check_may_maintain_persons(caller: Caller) -> None:
    """Maintain person records at all (before the record says whose they are)."""
    caller.require(*_AGENCIES)


def check_may_look_up_document(caller: Caller) -> None:
    """Find a person by an identity document (another pool's person is then "not found")."""
    caller.require(*_AGENCIES)


def hospital_of(caller: Caller) -> str | None:
    """The caller's own hospital code when it is a hospital: what it may act on is only
    what it referred or applied for, checked once the record is read."""
    return caller.code if caller.kind is CallerKind.HOSPITAL else None


def check_may_maintain_person(caller: Caller, insured_pool: str) -> None:
    """Create or replace the record of a person insured in ``insured_pool``."""
    caller.require(*_AGENCIES)
    if not caller.may_act_for_pool(insured_pool):
        raise _denied(caller, f"maintain persons insured in pool {insured_pool}")


def may_read_person(caller: Caller, insured_pool: str) -> bool:
    """Read the record and coverage of a person insured in ``insured_pool``."""
    return caller.may_act_for_pool(insured_pool)


def check_may_read_person(caller: Caller, insured_pool: str) -> None:
    if not may_read_person(caller, insured_pool):
        raise _denied(caller, f"read persons insured in pool {insured_pool}")


def check_may_read_filings(caller: Caller, insured_pool: str, psn_no: str | None = None) -> None:
    """Read the filings of a person insured in ``insured_pool`` (``psn_no``, once known)."""
    if caller.kind is CallerKind.CHANNEL:
        check_channel_end_user(caller, insured_pool, psn_no)
        return
    if caller.may_act_for_pool(insured_pool):
        return
    raise _denied(caller, f"read filings of persons insured in pool {insured_pool}")


def check_may_see_figures(caller: Caller, region: str | None) -> None:
    """Channel figures of ``region`` (a pool or a province code; None = every region)."""
    if caller.is_trusted:
        return
    caller.require(*_AGENCIES)
    if region is None:
        raise _denied(caller, "see figures of every region: name your pool or province")
    if caller.kind is CallerKind.PROVINCE_CENTRE and region == caller.code:
        return
    if len(region) == POOL_CODE_CHARS and caller.may_act_for_pool(region):
        return
    raise _denied(caller, f"see figures of region {region}")


# -- chronic/special disease certification (门诊慢特病资格认定) ---------------------------


def check_may_certify_chronic(caller: Caller, insured_pool: str) -> None:
    """Certify a chronic disease for, or approve an application of, a person of
    ``insured_pool``: that pool's agency (or its province centre) only."""
    if caller.is_trusted:
        return
    caller.require(*_AGENCIES)
    if not caller.may_act_for_pool(insured_pool):
        raise _denied(caller, f"certify chronic diseases of persons insured in pool {insured_pool}")


def check_may_apply_chronic(caller: Caller, insured_pool: str, hospital_code: str | None) -> None:
    """File a chronic disease application (2503) naming ``hospital_code`` for a person of
    ``insured_pool``: the hospital itself, or the agencies of that pool; or cancel one
    (2504) — a hospital only what it applied for (``hospital_code`` None otherwise)."""
    if caller.is_trusted or (caller.kind in _AGENCIES and caller.may_act_for_pool(insured_pool)):
        return
    if caller.kind is CallerKind.HOSPITAL and hospital_code == caller.code:
        return
    raise _denied(caller, f"file chronic diseases of persons insured in pool {insured_pool}")
