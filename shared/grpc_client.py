"""Client channels to crossclear services, with the same TLS rules as the servers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

from shared.auth import CALLER_HEADER
from shared.grpc_errors import REQUEST_ID_HEADER

_CLIENT_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    # A peer that restarts (a rolling update, a crash) is reached again within a second
    # rather than after gRPC's default back-off, which grows to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


def open_channel(
    target: str, tls_dir: Path | None = None, server_name: str | None = None
) -> grpc.aio.Channel:
    """A channel presenting tls_dir's certificate when given (mutual TLS), else plaintext."""
    if tls_dir is None:
        return grpc.aio.insecure_channel(target, options=_CLIENT_OPTIONS)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(tls_dir / "ca.crt").read_bytes(),
        private_key=(tls_dir / "tls.key").read_bytes(),
        certificate_chain=(tls_dir / "tls.crt").read_bytes(),
    )
    options = list(_CLIENT_OPTIONS)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.aio.secure_channel(target, credentials, options=options)


def development_server_name(target: str) -> str | None:
    """Development certificates name the services 'localhost', not addresses: the name a
    target given as an IP address must be checked against (None for a host name)."""
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return "localhost"


def caller_metadata(code: str, request_id: str | None = None) -> tuple[tuple[str, str], ...]:
    """Metadata naming the caller; honoured only by servers in insecure development mode."""
    items: list[tuple[str, str]] = [(CALLER_HEADER, code)]
    if request_id:
        items.append((REQUEST_ID_HEADER, request_id))
    return tuple(items)
