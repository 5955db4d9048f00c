"""What a client calls a service target."""

from __future__ import annotations

import ipaddress


def development_server_name(target: str) -> str | None:
    """The name to check a service's certificate against when ``target`` is an IP address:
    development certificates name the services 'localhost', not addresses. None for a host
    name, which the certificate names itself."""
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return "localhost"
