"""Who is calling: the caller's code, taken from its client certificate.

With mutual TLS the common name of the verified client certificate is the caller's
code. Only a server explicitly started in insecure development mode accepts the code
from the ``x-crossclear-caller`` metadata header instead. The code's shape says what kind
of party it is.

A channel (app, mini-program, web, counter) is a platform acting for people: which person
— or which counter clerk — a call is for travels beside the caller as an
:class:`EndUser`, proven by a token of the channel's identity provider
(``shared.enduser``) and attached to the caller by the service that needs it.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import PermissionDenied

CALLER_HEADER = "x-crossclear-caller"
# The institution the HTTP gateway verified by its client certificate and calls for.
FORWARDED_CALLER_HEADER = "x-crossclear-forwarded-caller"
GATEWAY_CODE = "svc-gateway"


class CallerKind(StrEnum):
    HOSPITAL = "hospital"  # 定点医疗机构: H + pool + 5 digits
    PHARMACY = "pharmacy"  # 定点零售药店: P + pool + 5 digits
    POOL_AGENCY = "pool_agency"  # 统筹区经办机构: 6-digit pool code
    PROVINCE_CENTRE = "province_centre"  # 省级中心: 2-digit province code
    NATIONAL_CENTRE = "national_centre"  # 国家平台
    CHANNEL = "channel"  # filing channels: app, mini-program, web, counter
    SERVICE = "service"  # another crossclear service
    GATEWAY = "gateway"  # the HTTP gateway: no rights of its own, forwards institutions
    OPERATOR = "operator"  # an operator's tooling


_PATTERNS: list[tuple[re.Pattern[str], CallerKind]] = [
    (re.compile(r"^H\d{11}$"), CallerKind.HOSPITAL),
    (re.compile(r"^P\d{11}$"), CallerKind.PHARMACY),
    (re.compile(r"^\d{6}$"), CallerKind.POOL_AGENCY),
    (re.compile(r"^\d{2}$"), CallerKind.PROVINCE_CENTRE),
    (re.compile(r"^NHSA$"), CallerKind.NATIONAL_CENTRE),
    (re.compile(r"^channel-(app|mini-program|web|counter)$"), CallerKind.CHANNEL),
    (re.compile(r"^svc-(filing|settlement|clearing|simulator)$"), CallerKind.SERVICE),
    (re.compile(r"^svc-gateway$"), CallerKind.GATEWAY),
    (re.compile(r"^op-[a-z0-9-]{1,32}$"), CallerKind.OPERATOR),
]


class EndUserKind(StrEnum):
    PERSON = "person"  # the insured person signed in to an online channel
    STAFF = "staff"  # a service-counter clerk acting for persons of their own pool


@dataclass(frozen=True)
class EndUser:
    """The person (or counter clerk) a channel acts for, from a verified token.

    A person's subject is their person number (psn_no): the filing service keys persons,
    filings and coverage by it. A clerk's subject is their staff id, and ``pool`` the pool
    whose counter they serve.
    """

    kind: EndUserKind
    subject: str
    issuer: str
    pool: str | None = None

    @property
    def acted_by(self) -> str:
        """Who acted, as recorded beside every write: person:<psn_no> or staff:<pool>:<id>."""
        if self.kind is EndUserKind.STAFF:
            return f"staff:{self.pool}:{self.subject}"
        return f"person:{self.subject}"


@dataclass(frozen=True)
class Caller:
    code: str
    kind: CallerKind
    end_user: EndUser | None = None  # channels only, once the token is verified
    via: str | None = None  # the gateway that verified and forwarded this institution

    @property
    def acted_by(self) -> str:
        """The end user a channel acts for, else the caller itself."""
        return self.end_user.acted_by if self.end_user else self.code

    @property
    def pool(self) -> str | None:
        """The pool a hospital, pharmacy or pool agency belongs to."""
        if self.kind in (CallerKind.HOSPITAL, CallerKind.PHARMACY):
            return self.code[1:7]
        if self.kind is CallerKind.POOL_AGENCY:
            return self.code
        return None

    @property
    def province(self) -> str | None:
        if self.kind is CallerKind.PROVINCE_CENTRE:
            return self.code
        pool = self.pool
        return pool[:2] if pool else None

    @property
    def is_trusted(self) -> bool:
        """Services and operators act on every party's behalf."""
        return self.kind in (CallerKind.SERVICE, CallerKind.OPERATOR, CallerKind.NATIONAL_CENTRE)

    def require(self, *kinds: CallerKind) -> None:
        if self.kind not in kinds and not self.is_trusted:
            allowed = ", ".join(k.value for k in kinds)
            raise PermissionDenied(
                f"caller {self.code} ({self.kind.value}) may not do this; allowed: {allowed}"
            )

    def may_act_for_pool(self, pool: str) -> bool:
        """A pool agency for its own pool, a province centre for its province's pools."""
        if self.is_trusted:
            return True
        if self.kind is CallerKind.POOL_AGENCY:
            return self.code == pool
        if self.kind is CallerKind.PROVINCE_CENTRE:
            return pool.startswith(self.code)
        return False


def parse_caller(code: str) -> Caller:
    for pattern, kind in _PATTERNS:
        if pattern.match(code):
            return Caller(code, kind)
    raise PermissionDenied(f"caller code {code!r} is not a known kind of party")


FORWARDABLE = (CallerKind.HOSPITAL, CallerKind.PHARMACY)


def resolve_caller(immediate: Caller, forwarded: str | None) -> Caller:
    """The caller an RPC is served for, given its immediate (authenticated) caller and the
    forwarded-caller metadata, if any.

    Only the gateway's own identity (``svc-gateway``) may forward, and only a hospital's or
    pharmacy's code: the call is then served as that institution (``via`` the gateway).
    Any other caller sending the metadata is refused, as is the gateway forwarding anything
    else; the gateway calling without it is itself, a kind with no rights.
    """
    if forwarded is None:
        return immediate
    if immediate.kind is not CallerKind.GATEWAY:
        raise PermissionDenied(
            f"caller {immediate.code} may not send {FORWARDED_CALLER_HEADER}; only the "
            "gateway forwards an institution it verified"
        )
    institution = parse_caller(forwarded)
    if institution.kind not in FORWARDABLE:
        raise PermissionDenied(
            f"the gateway forwards hospitals and pharmacies only, not {institution.code} "
            f"({institution.kind.value})"
        )
    return Caller(institution.code, institution.kind, via=immediate.code)


current_caller: ContextVar[Caller | None] = ContextVar("current_caller", default=None)


def caller() -> Caller:
    """The authenticated caller of the RPC being served (set by the server interceptor)."""
    found = current_caller.get()
    if found is None:
        raise PermissionDenied("no authenticated caller")
    return found
