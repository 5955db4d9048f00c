"""A pooling region's own broker identity: a user that may read its region queue and
nothing else (no configure, no write, no other queue).

On Kubernetes the RabbitMQ messaging-topology operator creates it from the ``User`` and
``Permission`` resources in ``deploy/k8s/region-access.yaml``; on a plain broker an
operator runs ``crossclear regions grant <code>`` on the broker's host, which does the
same through ``rabbitmqctl``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from dataclasses import dataclass
from typing import Final

from shared.bus.names import check_region_code, region_queue

RABBITMQCTL_TIMEOUT_S: Final = 30.0


class BrokerCommandFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class RegionGrant:
    user: str
    queue: str
    configure: str
    write: str
    read: str


def grant_of(namespace: str, code: str) -> RegionGrant:
    """Who the region is on the broker and exactly what it may do."""
    queue = region_queue(namespace, check_region_code(code))
    return RegionGrant(
        user=f"{namespace}-region-{code}",
        queue=queue,
        configure="^$",
        write="^$",
        read=f"^{re.escape(queue)}$",
    )


async def _rabbitmqctl(*args: str, node: str | None = None) -> str:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise BrokerCommandFailed("rabbitmqctl not found: run this on the broker's host")
    command = [tool, *(["-n", node] if node else []), *args]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), RABBITMQCTL_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        raise BrokerCommandFailed(f"rabbitmqctl {args[0]} timed out") from None
    if process.returncode != 0:
        raise BrokerCommandFailed(f"rabbitmqctl {args[0]} failed: {err.decode().strip()[:300]}")
    return out.decode()


async def grant(
    namespace: str,
    code: str,
    *,
    password: str | None = None,
    vhost: str = "/",
    node: str | None = None,
) -> tuple[RegionGrant, str]:
    """Create (or reset) the region's user and set its permissions; return the grant and
    the password (generated when not given: hand it over once, out of band)."""
    access = grant_of(namespace, code)
    secret = password or secrets.token_urlsafe(24)
    users = await _rabbitmqctl("list_users", "--quiet", "--no-table-headers", node=node)
    if access.user in {line.split("\t", 1)[0] for line in users.splitlines()}:
        await _rabbitmqctl("change_password", access.user, secret, node=node)
    else:
        await _rabbitmqctl("add_user", access.user, secret, node=node)
    await _rabbitmqctl(
        "set_permissions",
        "-p",
        vhost,
        access.user,
        access.configure,
        access.write,
        access.read,
        node=node,
    )
    return access, secret


async def revoke(namespace: str, code: str, *, node: str | None = None) -> None:
    await _rabbitmqctl("delete_user", grant_of(namespace, code).user, node=node)
