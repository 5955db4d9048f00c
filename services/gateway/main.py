"""Run the gateway until SIGTERM/SIGINT (``crossclear gateway``)."""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from services.gateway.app import Gateway, dev_sign_in
from shared.config import Settings

log = structlog.get_logger(__name__)


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve_forever(settings: Settings) -> None:
    gateway = Gateway(settings, sign_in=dev_sign_in(settings))
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    host, port = _host_port(settings.gateway_listen)
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("gateway serving", listen=settings.gateway_listen, routes=len(gateway.bindings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("gateway stopping")
    await runner.cleanup()
