"""HTTPS of the gateway and the institution a verified client certificate names.

The gateway serves its own certificate and asks every client for one, verified against
the platform CA (the CA of the gRPC services' mutual TLS). A certificate is optional at
the handshake: browsers and channel apps sign in with bearer tokens instead. Hospitals'
and pharmacies' settlement routes then require one whose common name is their code, as
the gRPC services read it (``shared.auth``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from shared.auth import FORWARDABLE, Caller, parse_caller
from shared.errors import DomainError, PermissionDenied
from shared.grpc_errors import Unauthenticated


def server_context(folder: Path) -> ssl.SSLContext:
    """TLS 1.2+ serving folder's tls.crt/tls.key; client certificates of ca.crt, optional."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(folder / "ca.crt"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def common_name(peercert: Any) -> str | None:
    """The subject common name of a verified peer certificate (``getpeercert()`` form)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def institution_of(peercert: Any) -> Caller:
    """The hospital or pharmacy a verified client certificate names.

    No certificate: UNAUTHENTICATED (HTTP 401). A certificate of another kind of party (a
    channel, a service, a pool agency): PERMISSION_DENIED (HTTP 403).
    """
    code = common_name(peercert)
    if code is None:
        raise Unauthenticated(
            "hospitals and pharmacies present their client certificate (the one they use "
            "for gRPC) to call settlement over HTTPS"
        )
    try:
        caller = parse_caller(code)
    except DomainError:
        raise PermissionDenied(f"certificate {code!r} names no known kind of party") from None
    if caller.kind not in FORWARDABLE:
        raise PermissionDenied(
            f"certificate of {caller.code} ({caller.kind.value}): settlement over HTTP is "
            "for hospitals and pharmacies"
        )
    return caller
