"""The gateway's Prometheus metrics, scraped from its metrics port: requests by route
and HTTP status, the latency histogram, and rate-limit refusals."""

from __future__ import annotations

import socket

import aiohttp

from services.gateway.main import start_metrics
from shared import clock
from shared.config import Settings
from shared.devidp import DevIdp

from .conftest import gateway_settings, start_gateway


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _value(text: str, sample: str) -> float:
    """A sample's value in the exposition text (labels in name order), 0 when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_requests_latency_and_refusals_are_scraped(
    settings: Settings, filing_service: object, dev_idp: DevIdp
) -> None:
    port = _free_port()
    scoped = gateway_settings(
        settings,
        filing_service,
        dev_idp,
        metrics_port=port,
        gateway_person_burst=1,
        gateway_person_rate_per_s=0.001,
    )
    metrics = start_metrics(scoped)
    assert metrics is not None
    runner, _gateway, base = await start_gateway(scoped)
    token = dev_idp.token(
        "channel-web", audience=settings.idp_audience, now=clock.now(), person="450100METRIC1"
    )
    scrape = f"http://127.0.0.1:{port}/metrics"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(scrape) as reply:
                before = await reply.text()
            statuses = []
            for auth in (None, token, token):
                headers = {"Authorization": f"Bearer {auth}"} if auth else {}
                async with session.get(
                    f"{base}/v1/persons/450100METRIC1/filings", headers=headers
                ) as reply:
                    statuses.append(reply.status)
            async with session.get(f"{base}/v1/nowhere") as reply:
                assert reply.status == 404
            assert statuses[0] == 401 and statuses[2] == 429, statuses
            async with session.get(scrape) as reply:
                assert reply.status == 200
                after = await reply.text()
    finally:
        await runner.cleanup()
        metrics.shutdown()

    def grew(sample: str) -> float:
        return _value(after, sample) - _value(before, sample)

    requests = "crossclear_gateway_requests_total"
    assert grew(f'{requests}{{http_status="401",route="ListFilings"}}') == 1
    assert grew(f'{requests}{{http_status="429",route="ListFilings"}}') == 1
    assert grew(f'{requests}{{http_status="404",route="-"}}') == 1
    assert grew('crossclear_gateway_request_seconds_count{route="ListFilings"}') == 3
    assert grew('crossclear_gateway_request_seconds_bucket{le="10.0",route="ListFilings"}') == 3
    assert grew('crossclear_gateway_rate_limited_total{scope="person"}') == 1
