"""Fixtures of the gateway tests: the gateway in this process on an ephemeral port, in
front of the session's filing service, trusting the session's identity provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.gateway.app import Gateway
from services.gateway.main import start_site
from shared import clock
from shared.config import Settings
from shared.devidp import DevIdp

from ...conftest import service_settings
from ..filing.conftest import api, filing_db  # noqa: F401  (fixtures used here)


@dataclass
class Http:
    """A client of a running gateway."""

    base: str
    session: aiohttp.ClientSession
    gateway: Gateway

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json(), response.headers


async def start_gateway(
    settings: Settings, sign_in: Callable[[str, str], str] | None = None
) -> tuple[web.AppRunner, Gateway, str]:
    """The gateway as ``crossclear gateway`` serves it (HTTPS when its settings say so), on
    an ephemeral port."""
    gateway = Gateway(settings, sign_in=sign_in)
    runner, base = await start_site(
        settings.model_copy(update={"gateway_listen": "127.0.0.1:0"}), gateway
    )
    return runner, gateway, base


def gateway_settings(
    settings: Settings, filing_service: object, dev_idp: DevIdp, **changes: object
) -> Settings:
    port = filing_service.port  # type: ignore[attr-defined]
    return service_settings(
        settings,
        filing_target=f"127.0.0.1:{port}",
        channel_idps=dev_idp.channel_idps(),
        **changes,
    )


@pytest.fixture(scope="session")
async def http(settings: Settings, filing_service: object, dev_idp: DevIdp) -> AsyncIterator[Http]:
    def sign_in(channel: str, psn_no: str) -> str:
        return dev_idp.token(
            channel, audience=settings.idp_audience, now=clock.now(), person=psn_no
        )

    runner, gateway, base = await start_gateway(
        gateway_settings(settings, filing_service, dev_idp), sign_in
    )
    async with aiohttp.ClientSession() as session:
        yield Http(base, session, gateway)
    await runner.cleanup()
