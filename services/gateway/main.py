"""Run the gateway until SIGTERM/SIGINT (``crossclear gateway``)."""

from __future__ import annotations

import asyncio
import signal
from wsgiref.simple_server import WSGIServer

import structlog
from aiohttp import web
from prometheus_client import start_http_server

from services.gateway.app import Gateway, dev_sign_in
from services.gateway.tls import server_context
from shared.config import DEFAULT_GATEWAY_METRICS_PORT, Settings

log = structlog.get_logger(__name__)


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


def start_metrics(settings: Settings) -> WSGIServer | None:
    """Serve the Prometheus metrics on CROSSCLEAR_METRICS_PORT (default 9104; 0: none), as
    the services do (a thread of its own). A port already taken is logged, not fatal."""
    port = settings.metrics_port
    if port is None:
        port = DEFAULT_GATEWAY_METRICS_PORT
    if not port:
        return None
    try:
        server, _thread = start_http_server(port)
    except OSError as error:  # serving requests matters more than being scraped
        log.error("gateway metrics not served", port=port, error=str(error))
        return None
    return server


async def start_site(settings: Settings, gateway: Gateway) -> tuple[web.AppRunner, str]:
    """Listen on CROSSCLEAR_GATEWAY_LISTEN: HTTPS when CROSSCLEAR_GATEWAY_HTTPS_DIR is set."""
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    host, port = _host_port(settings.gateway_listen)
    https = settings.gateway_https_dir
    site = web.TCPSite(runner, host, port, ssl_context=server_context(https) if https else None)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"{'https' if https else 'http'}://{bound_host}:{bound_port}"


async def serve_forever(settings: Settings) -> None:
    gateway = Gateway(settings, sign_in=dev_sign_in(settings))
    metrics = start_metrics(settings)
    runner, base = await start_site(settings, gateway)
    log.info(
        "gateway serving",
        base=base,
        routes=len(gateway.bindings),
        metrics_port=metrics.server_port if metrics else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("gateway stopping")
    await runner.cleanup()
    if metrics is not None:
        metrics.shutdown()
