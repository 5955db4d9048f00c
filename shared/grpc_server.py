"""The gRPC server every service runs: interceptors, health, reflection, TLS, shutdown.

A service contributes a ``build`` coroutine (its composition root) that receives the
process's resources (settings, database pool, bus) and returns its servicers and its
background loops; :class:`ServiceHost` does everything else the same way for all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram, start_http_server

from shared.auth import CALLER_HEADER, Caller, current_caller, parse_caller
from shared.broker import BusRef, connect
from shared.config import ServiceName, Settings
from shared.db import create_pool, migrate_service
from shared.errors import DomainError
from shared.grpc_errors import Unauthenticated, abort_with, to_status

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_UNAUTHENTICATED_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
_HEALTH_INTERVAL_S = 1.0
_HEALTH_PROBE_TIMEOUT_S = 1.0
_STARTUP_DB_WAIT_S = 60.0
_BUS_RETRY_MAX_S = 10.0
_STOP_TASKS_TIMEOUT_S = 10.0

RPC_LATENCY = Histogram(
    "crossclear_grpc_server_handling_seconds",
    "Time to handle an RPC",
    ["service", "method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_HANDLED = Counter(
    "crossclear_grpc_server_handled_total", "RPCs handled", ["service", "method", "code"]
)


def _metadata(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            return str(item.value)
    return None


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc,unused-ignore]
    """Request id, caller identity, access log, metrics and error mapping for every RPC."""

    def __init__(self, service: str, *, tls: bool, insecure_dev: bool) -> None:
        self._service = service
        self._tls = tls
        self._insecure_dev = insecure_dev

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_UNAUTHENTICATED_PREFIXES):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # streaming RPCs are not part of our APIs

    def _identify(self, context: grpc.aio.ServicerContext) -> Caller:
        if self._tls:
            names = context.auth_context().get("x509_common_name") or []
            if names:
                return parse_caller(names[0].decode())
        if self._insecure_dev:
            code = _metadata(context, CALLER_HEADER)
            if code:
                return parse_caller(code)
        raise Unauthenticated("no caller identity: present a client certificate")

    def _wrap(
        self, behavior: Callable[..., Awaitable[Any]], method: str
    ) -> Callable[..., Awaitable[Any]]:
        short = method.rsplit("/", 1)[-1]

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            request_id = _metadata(context, REQUEST_ID_HEADER) or uuid.uuid4().hex
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            caller_code = "-"
            token = None
            with structlog.contextvars.bound_contextvars(request_id=request_id, rpc=short):
                try:
                    context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
                    caller = self._identify(context)
                    caller_code = caller.code
                    token = current_caller.set(caller)
                    return await behavior(request, context)
                except DomainError as error:
                    code = to_status(error)[0]
                    await abort_with(context, error)
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception:
                    if context.code() not in (None, grpc.StatusCode.OK):
                        code = context.code()  # the servicer aborted deliberately
                        raise
                    code = grpc.StatusCode.INTERNAL
                    log.exception("rpc failed")
                    await context.abort(
                        grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"
                    )
                finally:
                    if token is not None:
                        current_caller.reset(token)
                    elapsed_s = time.perf_counter() - started
                    RPC_LATENCY.labels(self._service, short, code.name).observe(elapsed_s)
                    RPC_HANDLED.labels(self._service, short, code.name).inc()
                    log.info(
                        "rpc",
                        caller=caller_code,
                        code=code.name,
                        latency_ms=round(elapsed_s * 1000, 2),
                    )

        return wrapped


@dataclass
class Resources:
    service: ServiceName
    settings: Settings
    pool: asyncpg.Pool
    # Connected in the background: use it from ServiceApp.background loops (which start
    # once it is connected) or call bus.get() there.
    bus: BusRef


@dataclass
class ServiceApp:
    """What a service's composition root hands to the host."""

    register: list[Callable[[grpc.aio.Server], None]]
    service_names: list[str]
    # Long-running loops (outbox relay, consumers) started once the broker is connected.
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


BuildFn = Callable[[Resources], Awaitable[ServiceApp]]


def server_credentials(tls_dir: Path) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [((tls_dir / "tls.key").read_bytes(), (tls_dir / "tls.crt").read_bytes())],
        root_certificates=(tls_dir / "ca.crt").read_bytes(),
        require_client_auth=True,
    )


class ServiceHost:
    """Runs one service: migrations, pool, bus, gRPC server, health watch, clean stop."""

    def __init__(self, service: ServiceName, settings: Settings, build: BuildFn) -> None:
        if settings.tls_dir is None and not settings.insecure_dev:
            raise SystemExit(
                "refusing to start without mutual TLS: set CROSSCLEAR_TLS_DIR "
                "(or CROSSCLEAR_INSECURE_DEV=true on a development machine)"
            )
        self.service = service
        self.settings = settings
        self._build = build
        self._tasks: list[asyncio.Task[None]] = []
        self._health = health.aio.HealthServicer()
        self._names: list[str] = []
        self.port: int = 0
        self.server: grpc.aio.Server | None = None
        self.pool: asyncpg.Pool | None = None
        self.bus = BusRef()
        self._app: ServiceApp | None = None
        self._health_server: grpc.aio.Server | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.settings
        await self._wait_for_database()
        self.pool = await create_pool(
            s.database_url,
            self.service.value,
            min_size=s.db_pool_min,
            max_size=s.db_pool_max,
            app_name=f"crossclear-{self.service.value}",
        )
        self._app = await self._build(Resources(self.service, s, self.pool, self.bus))
        self.server = grpc.aio.server(
            interceptors=[
                ServerInterceptor(
                    self.service.value, tls=s.tls_dir is not None, insecure_dev=s.insecure_dev
                )
            ],
            options=[
                ("grpc.max_receive_message_length", s.grpc_max_message_bytes),
                ("grpc.max_send_message_length", s.grpc_max_message_bytes),
                ("grpc.max_connection_age_ms", s.grpc_max_connection_age_s * 1000),
                ("grpc.max_connection_age_grace_ms", 30_000),
            ],
        )
        for register in self._app.register:
            register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self.server)
        self._names = list(self._app.service_names)
        reflection.enable_server_reflection(
            [
                *self._names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        listen = s.listen_of(self.service)
        if s.tls_dir is not None:
            self.port = self.server.add_secure_port(listen, server_credentials(s.tls_dir))
        else:
            self.port = self.server.add_insecure_port(listen)
        await self._set_health(False)
        await self.server.start()
        if s.health_port:
            self._health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
            self._health_server.add_insecure_port(f"0.0.0.0:{s.health_port}")
            await self._health_server.start()
        self._tasks.append(asyncio.create_task(self._connect_bus_then_run_background(), name="bus"))
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))
        log.info(
            "serving",
            service=self.service.value,
            listen=listen,
            port=self.port,
            tls=s.tls_dir is not None,
        )

    async def _wait_for_database(self) -> None:
        deadline = time.monotonic() + _STARTUP_DB_WAIT_S
        while True:
            try:
                await migrate_service(self.settings.database_url, self.service.value)
                return
            except (TimeoutError, OSError, asyncpg.CannotConnectNowError) as exc:
                if time.monotonic() > deadline:
                    raise SystemExit(f"PostgreSQL unreachable at start-up: {exc}") from exc
                log.warning("database not reachable yet; retrying", error=str(exc))
                await asyncio.sleep(2)

    async def _connect_bus_then_run_background(self) -> None:
        assert self._app is not None
        delay_s = 0.5
        while not self._stopping:
            try:
                bus = await connect(self.settings, name=f"crossclear-{self.service.value}")
                if self._stopping:  # stop() began while we were connecting
                    await bus.close()
                    return
                self.bus.set(bus)
                break
            except (
                Exception
            ) as exc:  # the broker may come up later; health says NOT_SERVING meanwhile
                log.warning(
                    "broker not reachable yet; retrying", error=str(exc), retry_in_s=delay_s
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, _BUS_RETRY_MAX_S)
        for loop_factory in self._app.background:
            if not self._stopping:
                self._tasks.append(asyncio.create_task(self._supervise(loop_factory)))

    async def _supervise(self, loop_factory: Callable[[], Awaitable[None]]) -> None:
        # A background loop that dies is restarted after a pause rather than leaving the
        # service half-working (e.g. serving settlements that nobody relays).
        while True:
            try:
                await loop_factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop failed; restarting in 2 s")
                await asyncio.sleep(2)

    async def _probe(self) -> bool:
        assert self.pool is not None
        if not self.bus.is_healthy():
            return False
        try:
            async with asyncio.timeout(_HEALTH_PROBE_TIMEOUT_S):
                await self.pool.fetchval("SELECT 1")
            return True
        except Exception:  # any failure to reach the database means not serving
            return False

    async def _watch_health(self) -> None:
        serving: bool | None = None
        while True:
            ok = await self._probe()
            if ok != serving:
                await self._set_health(ok)
                log.info("health", serving=ok)
                serving = ok
            await asyncio.sleep(_HEALTH_INTERVAL_S)

    async def _set_health(self, ok: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop in an order that loses nothing: refuse new RPCs and drain those in flight,
        then stop the background loops (an unpublished outbox row is published by the
        next process), then close the broker and the database."""
        if self._stopping:
            return
        self._stopping = True
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        log.info("stopping", service=self.service.value, grace_s=grace)
        await self._health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=_STOP_TASKS_TIMEOUT_S)
            if pending:
                log.error("background tasks did not stop in time", count=len(pending))
        if self._app is not None:
            for close in self._app.on_close:
                try:
                    await asyncio.wait_for(close(), _STOP_TASKS_TIMEOUT_S)
                except Exception:  # one failed close must not keep the rest open
                    log.exception("close hook failed")
        await self.bus.close()
        if self.pool is not None:
            await self.pool.close()


@contextlib.asynccontextmanager
async def running(
    service: ServiceName, settings: Settings, build: BuildFn
) -> AsyncIterator[ServiceHost]:
    host = ServiceHost(service, settings, build)
    await host.start()
    try:
        yield host
    finally:
        await host.stop(grace_s=1.0)


async def serve_forever(service: ServiceName, settings: Settings, build: BuildFn) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight RPCs and stop cleanly."""
    port = settings.metrics_port_of(service)
    if port:
        start_http_server(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = ServiceHost(service, settings, build)
    await host.start()
    try:
        await stop.wait()
    finally:
        await host.stop()
