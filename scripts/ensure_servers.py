"""Check that PostgreSQL and RabbitMQ answer; start a local one that does not.

Only servers configured on this machine (127.0.0.1 / localhost) are started, with the
commands this machine's packages provide; anything else stops with a message saying
which server is missing and how to start it.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from shared.config import get_settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
WAIT_S = {"PostgreSQL": 30.0, "RabbitMQ": 90.0}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def start_command(name: str) -> list[str] | None:
    if name == "PostgreSQL" and shutil.which("pg_ctlcluster"):
        versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
        if versions:
            return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    if name == "RabbitMQ" and shutil.which("rabbitmq-server"):
        return ["rabbitmq-server", "-detached"]
    return None


def ensure(name: str, url: str, default_port: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    if reachable(host, port):
        return
    command = start_command(name)
    if host not in LOCAL_HOSTS or command is None:
        hint = " ".join(command) if command else f"start {name} on {host}:{port}"
        sys.exit(
            f"setup: {name} is not reachable at {host}:{port}. Start it ({hint}) and run again."
        )
    print(f"setup: {name} is not running on {host}:{port}; starting it: {' '.join(command)}")
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WAIT_S[name]
    while time.monotonic() < deadline:
        if reachable(host, port):
            print(f"setup: {name} is up")
            return
        time.sleep(1)
    sys.exit(
        f"setup: {name} did not come up on {host}:{port} within {WAIT_S[name]:.0f} s "
        f"(tried: {' '.join(command)}). Start it by hand and run again."
    )


async def _amqp_handshake(url: str, timeout_s: float) -> None:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=timeout_s)
    await connection.close()


def check_broker_answers(url: str, attempts: int = 3, timeout_s: float = 10.0) -> None:
    """A broker can accept TCP yet never complete the AMQP handshake (overloaded, out of
    file descriptors); that must stop set-up with a clear message, not hang a test."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            asyncio.run(_amqp_handshake(url, timeout_s))
            return
        except Exception as exc:  # any failure is reported below with its text
            last = exc
            time.sleep(2)
    sys.exit(
        f"setup: RabbitMQ accepts connections but does not complete the AMQP handshake "
        f"({last!r}). Restart it (rabbitmqctl stop; rabbitmq-server -detached) and run again."
    )


def main() -> None:
    settings = get_settings()
    ensure("PostgreSQL", settings.database_url, 5432)
    ensure("RabbitMQ", settings.amqp_url, 5672)
    check_broker_answers(settings.amqp_url)


if __name__ == "__main__":
    main()
