"""The shared gRPC host against the real PostgreSQL and RabbitMQ: health, errors,
caller identity (development header and mutual TLS), reflection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from google.protobuf import empty_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from shared import clock as shared_clock
from shared import clock_control
from shared.auth import caller
from shared.config import ServiceName, Settings
from shared.devcerts import issue
from shared.errors import FailedPrecondition, FieldViolation, InvalidArgument
from shared.grpc_client import caller_metadata, open_channel
from shared.grpc_errors import (
    REQUEST_ID_HEADER,
    details_of,
    error_info_of,
    field_violations_of,
    localized_of,
    reason_of,
    retry_delay_of,
)
from shared.grpc_server import (
    BROKER_HEALTH,
    DATABASE_HEALTH,
    LIVE_HEALTH,
    Resources,
    ServiceApp,
    ServiceHost,
    running,
)
from tests.support.polling import wait_until

from .proxy import CuttableProxy

TEST_SERVICE = "crossclear.test.v1.Probe"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _whoami(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    return caller().code.encode()


async def _invalid(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    raise InvalidArgument("identity.number", "check digit mismatch")


async def _rule(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    raise FailedPrecondition("FILING_REQUIRED", "no filing covers this treatment pool")


async def _boom(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("password=hunter2 at /etc/secret")


async def _many(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    # What a hostile 500-line upload with 5,000-character values provokes.
    raise InvalidArgument.of(
        [
            FieldViolation(f"fee_lines[{i}].{'x' * 5000}", f"quantity {'9' * 5000} out of range")
            for i in range(500)
        ]
    )


async def _slow(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(0.5)
    return b"done"


async def probe_build(res: Resources) -> ServiceApp:
    async def db(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
        async with res.pool.acquire(timeout=2) as conn, conn.transaction():
            return str(await conn.fetchval("SELECT 1")).encode()

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(fn)
        for name, fn in {
            "Whoami": _whoami,
            "Invalid": _invalid,
            "Rule": _rule,
            "Boom": _boom,
            "Many": _many,
            "Slow": _slow,
            "Db": db,
        }.items()
    }
    handlers["Typed"] = grpc.unary_unary_rpc_method_handler(
        _whoami, request_deserializer=empty_pb2.Empty.FromString
    )

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(TEST_SERVICE, handlers),)
        )

    return ServiceApp(register=[register], service_names=[TEST_SERVICE])


def host_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"grpc_listen": "127.0.0.1:0", "metrics_port": 0, **changes})


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}"))


async def health_of(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
        return int(reply.status)


@pytest.fixture
async def host(settings: Settings, database: str) -> AsyncIterator[int]:
    async with running(ServiceName.FILING, host_settings(settings), probe_build) as h:
        yield h.port


async def call(
    port: int, method: str, code: str | None = "H45010000001", body: bytes = b""
) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        rpc = channel.unary_unary(f"/{TEST_SERVICE}/{method}")
        metadata = caller_metadata(code) if code else None
        return bytes(await rpc(body, metadata=metadata, timeout=5))


async def test_health_serving_with_real_servers(host: int) -> None:
    await wait_until(lambda: _is(host, SERVING), timeout_s=30, interval_s=0.25, what="SERVING")
    for concern in (LIVE_HEALTH, DATABASE_HEALTH, BROKER_HEALTH):
        await wait_until(
            lambda c=concern: _is(host, SERVING, c),  # type: ignore[misc]
            timeout_s=30,
            interval_s=0.25,
            what=f"{concern} SERVING",
        )


async def _is(port: int, status: int, service: str = "") -> bool:
    return await health_of(port, service) == status


def _trailer_bytes(error: grpc.aio.AioRpcError) -> int:
    return sum(
        len(k) + len(v if isinstance(v, bytes) else v.encode())
        for k, v in error.trailing_metadata() or ()
    ) + len((error.details() or "").encode())


async def test_bounded_error_details_for_hostile_input(host: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await call(host, "Many")
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = field_violations_of(bad.value)
    assert 1 < len(fields) <= 13 and fields[-1] == "…", fields
    status = details_of(bad.value)
    assert status is not None and "more violation" in str(status)
    # base64 makes the binary detail a third larger on the wire: still well under 8 KB.
    assert _trailer_bytes(bad.value) * 4 // 3 < 6_000


async def test_undecodable_request_bytes_are_invalid_argument(host: int) -> None:
    assert await call(host, "Typed", body=b"") == b"H45010000001"
    for raw in (b"\x0a\xff", b"\x08\xff\xff", b"\xff"):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await call(host, "Typed", body=raw)
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raw
        assert "google.protobuf.Empty" in (bad.value.details() or "")
        assert field_violations_of(bad.value) == ["request"]


async def test_every_error_carries_the_request_id(host: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{host}") as channel:
        for method in ("Invalid", "Rule", "Boom"):
            rpc = channel.unary_unary(f"/{TEST_SERVICE}/{method}")
            metadata = (*caller_metadata("H45010000001"), (REQUEST_ID_HEADER, f"req-{method}"))
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await rpc(b"", metadata=metadata, timeout=5)
            trailers = {key: value for key, value in failed.value.trailing_metadata() or ()}
            assert trailers.get(REQUEST_ID_HEADER) == f"req-{method}", (method, trailers)
            if method != "Boom":
                info = error_info_of(failed.value)
                assert info is not None and info.metadata["request_id"] == f"req-{method}"


async def test_overload_is_shed_with_a_retry_hint(settings: Settings, database: str) -> None:
    async with running(
        ServiceName.FILING, host_settings(settings, grpc_max_inflight=2), probe_build
    ) as h:
        results = await asyncio.gather(
            *(call(h.port, "Slow") for _ in range(8)), return_exceptions=True
        )
        done = [r for r in results if r == b"done"]
        shed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(done) == 2 and len(shed) == 6, results
        for error in shed:
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert retry_delay_of(error) == 0.5
        assert await call(h.port, "Slow") == b"done"  # capacity is given back


async def test_domain_errors_map_to_rich_statuses(host: int) -> None:
    assert await call(host, "Whoami") == b"H45010000001"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await call(host, "Invalid")
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations_of(bad.value) == ["identity.number"]
    with pytest.raises(grpc.aio.AioRpcError) as rule:
        await call(host, "Rule")
    assert rule.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(rule.value) == "FILING_REQUIRED"
    assert localized_of(rule.value) == "业务规则不允许办理：参保人未办理就医地的异地就医备案"
    with pytest.raises(grpc.aio.AioRpcError) as boom:
        await call(host, "Boom")
    assert boom.value.code() is grpc.StatusCode.INTERNAL
    assert "hunter2" not in (boom.value.details() or "") and "/etc" not in (
        boom.value.details() or ""
    )


async def test_caller_identity_is_required(host: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await call(host, "Whoami", code=None)
    assert missing.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await call(host, "Whoami", code="not a caller")
    assert unknown.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_reflection_lists_services(host: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{host}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        ):
            names = [s.name for s in reply.list_services_response.service]
    assert TEST_SERVICE in names and "grpc.health.v1.Health" in names


async def test_broker_outage_is_its_own_health_entry(settings: Settings, database: str) -> None:
    """The RPCs need the database, not the broker (the outbox buffers events): readiness
    stays SERVING and only the broker entry says NOT_SERVING."""
    dead_broker = with_port(settings.amqp_url, 1)  # nothing listens on port 1
    async with running(
        ServiceName.FILING, host_settings(settings, amqp_url=dead_broker), probe_build
    ) as h:
        await asyncio.sleep(2.5)  # several health-watch rounds
        assert await health_of(h.port) == SERVING
        assert await health_of(h.port, TEST_SERVICE) == SERVING
        assert await health_of(h.port, LIVE_HEALTH) == SERVING
        assert await health_of(h.port, BROKER_HEALTH) == NOT_SERVING
        assert await call(h.port, "Db") == b"1"


@pytest.mark.parametrize("server", ["broker", "database"])
async def test_health_follows_a_cut_connection(
    settings: Settings, database: str, server: str
) -> None:
    url = settings.amqp_url if server == "broker" else settings.database_url
    parts = urlsplit(url)
    proxy = CuttableProxy(
        parts.hostname or "127.0.0.1", parts.port or (5672 if server == "broker" else 5432)
    )
    await proxy.start()
    field = "amqp_url" if server == "broker" else "database_url"
    changed = host_settings(settings, **{field: with_port(url, proxy.port)})
    # Readiness follows the database only; each concern has its own entry.
    readiness = "" if server == "database" else BROKER_HEALTH
    concern = DATABASE_HEALTH if server == "database" else BROKER_HEALTH
    async with running(ServiceName.FILING, changed, probe_build) as h:
        await wait_until(
            lambda: _is(h.port, SERVING, readiness), timeout_s=30, interval_s=0.25, what="ready"
        )
        await proxy.cut()
        await wait_until(
            lambda: _is(h.port, NOT_SERVING, readiness),
            timeout_s=30,
            interval_s=0.25,
            what="not ready",
        )
        await wait_until(
            lambda: _is(h.port, NOT_SERVING, concern),
            timeout_s=30,
            interval_s=0.25,
            what=f"{concern} down",
        )
        assert await health_of(h.port, LIVE_HEALTH) == SERVING
        if server == "broker":
            assert await health_of(h.port) == SERVING
        await proxy.restore()
        await wait_until(
            lambda: _is(h.port, SERVING, readiness),
            timeout_s=45,
            interval_s=0.25,
            what="ready again",
        )
        await wait_until(
            lambda: _is(h.port, SERVING, concern),
            timeout_s=45,
            interval_s=0.25,
            what=f"{concern} back",
        )
    await proxy.cut()


async def test_database_cut_reaches_clients_as_unavailable(
    settings: Settings, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(settings.database_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    changed = host_settings(settings, database_url=with_port(settings.database_url, proxy.port))
    async with running(ServiceName.FILING, changed, probe_build) as h:
        assert await call(h.port, "Db") == b"1"
        await proxy.cut()
        codes = []
        for _ in range(6):
            try:
                await call(h.port, "Db")
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as error:
                codes.append(error.code())
                if error.code() is grpc.StatusCode.UNAVAILABLE:
                    assert retry_delay_of(error) is not None
                    assert "retry" in (error.details() or "")
        assert set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes
        await proxy.restore()
        await wait_until(
            lambda: _ok(h.port, "Db"), timeout_s=30, interval_s=0.25, what="Db answers again"
        )
    await proxy.cut()
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not [r for r in errors if "rpc failed" in r.getMessage()], errors


async def _ok(port: int, method: str) -> bool:
    try:
        await call(port, method)
        return True
    except grpc.aio.AioRpcError:
        return False


async def test_mutual_tls_caller_is_the_certificate_common_name(
    settings: Settings, database: str, tmp_path: Path
) -> None:
    server_dir = issue(tmp_path, "svc-filing")
    hospital_dir = issue(tmp_path, "H45010000001")
    tls = host_settings(settings, tls_dir=server_dir, insecure_dev=False)
    async with running(ServiceName.FILING, tls, probe_build) as h:
        async with open_channel(
            f"127.0.0.1:{h.port}", hospital_dir, server_name="localhost"
        ) as channel:
            rpc = channel.unary_unary(f"/{TEST_SERVICE}/Whoami")
            # The header is ignored outside development mode: the certificate decides.
            reply = await rpc(b"", metadata=caller_metadata("H44010000009"), timeout=5)
            assert reply == b"H45010000001"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{h.port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await plain.unary_unary(f"/{TEST_SERVICE}/Whoami")(b"", timeout=3)


async def test_the_simulated_clock_cannot_be_enabled_outside_development(
    settings: Settings, tmp_path: Path
) -> None:
    server_dir = issue(tmp_path, "svc-filing")
    for changes in (
        {"simulated_clock": True, "tls_dir": server_dir, "insecure_dev": False},
        {"simulated_clock": True, "tls_dir": server_dir, "insecure_dev": True},
    ):
        with pytest.raises(SystemExit, match="development only"):
            ServiceHost(ServiceName.FILING, host_settings(settings, **changes), probe_build)


async def test_the_clock_control_moves_the_clock_forward_only(
    settings: Settings, database: str
) -> None:
    start = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
    simulated = host_settings(settings, simulated_clock=True, clock_start=start)
    async with running(ServiceName.FILING, simulated, probe_build) as h:
        target = f"127.0.0.1:{h.port}"
        assert shared_clock.now() >= start  # the process runs on the simulated clock
        month_end = datetime(2026, 3, 31, 15, 59, 0, tzinfo=UTC)
        assert await clock_control.set_clock(target, settings, month_end) == month_end
        # It flows on from there with real time.
        assert shared_clock.china_now().strftime("%Y-%m-%d %H:%M") == "2026-03-31 23:59"
        with pytest.raises(grpc.aio.AioRpcError) as back:
            await clock_control.set_clock(target, settings, start)
        assert back.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(back.value) == "CLOCK_BACKWARDS"
        async with grpc.aio.insecure_channel(target) as channel:
            rpc = channel.unary_unary(
                f"/{clock_control.SERVICE}/Set",
                request_serializer=timestamp_pb2.Timestamp.SerializeToString,
            )
            later = timestamp_pb2.Timestamp()
            later.FromDatetime(datetime(2027, 1, 1, tzinfo=UTC))
            with pytest.raises(grpc.aio.AioRpcError) as hospital:
                await rpc(later, metadata=caller_metadata("H45010000001"), timeout=5)
            assert hospital.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert shared_clock.clock() is shared_clock.SYSTEM  # restored when the host stopped


async def test_the_system_clock_serves_no_clock_control(host: int) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await clock_control.set_clock(
            f"127.0.0.1:{host}", Settings(insecure_dev=True), datetime(2030, 1, 1, tzinfo=UTC)
        )
    assert missing.value.code() is grpc.StatusCode.UNIMPLEMENTED
