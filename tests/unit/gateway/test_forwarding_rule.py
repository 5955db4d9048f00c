"""The forwarded-caller rule of shared.auth and the certificate → institution mapping of
the gateway's HTTPS door, without a network."""

from __future__ import annotations

import pytest

from services.gateway.tls import common_name, institution_of
from shared.auth import GATEWAY_CODE, CallerKind, parse_caller, resolve_caller
from shared.errors import PermissionDenied
from shared.grpc_errors import Unauthenticated


def _cert(code: str) -> dict[str, object]:
    return {"subject": ((("organizationName", "x"),), (("commonName", code),))}


def test_the_gateway_forwards_hospitals_and_pharmacies_only() -> None:
    gateway = parse_caller(GATEWAY_CODE)
    assert gateway.kind is CallerKind.GATEWAY and not gateway.is_trusted
    with pytest.raises(PermissionDenied):
        gateway.require(CallerKind.HOSPITAL)
    served = resolve_caller(gateway, "H44010000001")
    assert (served.code, served.kind, served.via) == (
        "H44010000001",
        CallerKind.HOSPITAL,
        GATEWAY_CODE,
    )
    assert resolve_caller(gateway, "P44010000001").kind is CallerKind.PHARMACY
    assert resolve_caller(gateway, None) == gateway
    for forwarded in ("channel-web", "svc-settlement", "NHSA", "440100", "44", "op-x", "?"):
        with pytest.raises(PermissionDenied):
            resolve_caller(gateway, forwarded)


def test_no_one_else_may_forward() -> None:
    for code in ("H45010000001", "svc-settlement", "op-admin", "NHSA", "channel-web"):
        immediate = parse_caller(code)
        assert resolve_caller(immediate, None) == immediate
        with pytest.raises(PermissionDenied, match="x-crossclear-forwarded-caller"):
            resolve_caller(immediate, "H44010000001")


def test_a_certificate_names_the_institution() -> None:
    assert common_name(_cert("H44010000001")) == "H44010000001"
    assert institution_of(_cert("P44010000001")).kind is CallerKind.PHARMACY
    for missing in (None, {}, {"subject": ()}):
        with pytest.raises(Unauthenticated):
            institution_of(missing)
    for other in ("channel-web", "svc-gateway", "440100", "who?"):
        with pytest.raises(PermissionDenied):
            institution_of(_cert(other))
