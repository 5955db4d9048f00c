"""The gRPC server every service runs: interceptors, health, reflection, TLS, shutdown.

A service contributes a ``build`` coroutine (its composition root) that receives the
process's resources (settings, database pool, bus) and returns its servicers and its
background loops; :class:`ServiceHost` does everything else the same way for all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
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
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from structlog.contextvars import bind_contextvars, reset_contextvars

from shared import clock as shared_clock
from shared import clock_control, metrics
from shared.auth import (
    CALLER_HEADER,
    FORWARDED_CALLER_HEADER,
    Caller,
    current_caller,
    parse_caller,
    resolve_caller,
)
from shared.broker import BusRef, connect
from shared.clock import Clock, SimulatedClock
from shared.config import ServiceName, Settings
from shared.db import create_pool, migrate_service
from shared.errors import DomainError, InvalidArgument
from shared.faults import Unavailable, describe, is_transient
from shared.grpc_errors import (
    REQUEST_ID_HEADER,
    ResourceExhausted,
    Unauthenticated,
    abort_with,
    clip,
    to_status,
)
from shared.health import BROKER_HEALTH, DATABASE_HEALTH, LIVE_HEALTH
from shared.metrics import INFLIGHT, Sampler
from shared.workers import metrics_port_of_worker, worker_index

log = structlog.get_logger(__name__)
_ACCESS = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def _parse_caller(code: str) -> Caller:
    """parse_caller, remembered: a server sees the same few hundred callers all day
    (a Caller is immutable; a code that does not parse raises and is not cached)."""
    return parse_caller(code)


_UNAUTHENTICATED_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
_HEALTH_INTERVAL_S = 1.0
_HEALTH_PROBE_TIMEOUT_S = 1.0
_STARTUP_DB_WAIT_S = 60.0
_BUS_RETRY_MAX_S = 10.0
_STOP_TASKS_TIMEOUT_S = 10.0
# Methods whose wrapped handler is kept (only registered methods reach the wrapping).
_MAX_WRAPPED_METHODS = 1_000

RPC_LATENCY = Histogram(
    "crossclear_grpc_server_handling_seconds",
    "Time to handle an RPC",
    ["grpc_service", "grpc_method", "grpc_code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RPC_HANDLED = Counter(
    "crossclear_grpc_server_handled_total",
    "RPCs handled",
    ["grpc_service", "grpc_method", "grpc_code"],
)
DEPENDENCY_UP = Gauge(
    "crossclear_dependency_up",
    "1 while the process reaches the dependency (database, broker), else 0",
    ["crossclear_service", "dependency"],
)
RPC_SHED = Counter(
    "crossclear_grpc_server_shed_total",
    "RPCs refused with RESOURCE_EXHAUSTED because the in-flight limit was reached",
    ["crossclear_service"],
)


def _request_headers(
    context: grpc.aio.ServicerContext,
) -> tuple[str | None, str | None, str | None]:
    """The request id, the caller header and the forwarded caller, in one pass over the
    metadata."""
    request_id = caller = forwarded = None
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER:
            request_id = value
        elif key == CALLER_HEADER:
            caller = value
        elif key == FORWARDED_CALLER_HEADER:
            forwarded = value
    return request_id, caller, forwarded


@dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request whose bytes did not parse, so the interceptor can answer
    INVALID_ARGUMENT inside its error mapping (deserialisation runs before any handler)."""

    type_name: str
    error: str


def _tolerant(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    type_name = method.rsplit("/", 1)[-1] + " request"

    def deserialize(raw: bytes) -> Any:
        if deserializer is None:
            return raw
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError, invalid UTF-8, anything the parser raises
            message_type = getattr(deserializer, "__self__", None)
            name = getattr(getattr(message_type, "DESCRIPTOR", None), "full_name", type_name)
            return _Undecodable(str(name), type(exc).__name__)

    return deserialize


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc,unused-ignore]
    """Request id, caller identity, load shedding, access log, metrics and error mapping
    for every RPC.

    Errors: a DomainError maps to its status; an infrastructure fault (see
    ``shared.faults``) to UNAVAILABLE with a retry hint; a request over the in-flight limit
    is shed with RESOURCE_EXHAUSTED and a retry hint before it queues for the database;
    request bytes that do not parse get INVALID_ARGUMENT naming the message type; anything
    else is our bug: INTERNAL with the request id, and the traceback in the log.
    """

    def __init__(
        self, service: str, *, tls: bool, insecure_dev: bool, max_inflight: int = 256
    ) -> None:
        assert 1 <= max_inflight <= 100_000, max_inflight
        self._service = service
        self._tls = tls
        self._insecure_dev = insecure_dev
        self._max_inflight = max_inflight
        self.inflight = 0
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(_UNAUTHENTICATED_PREFIXES):
            return handler
        if handler.unary_unary:
            # One wrapped handler per method, built on its first call: the registered
            # handler is the same object on every call, so its wrapping is too.
            cached = self._wrapped.get(method)
            if cached is not None and cached[0] is handler:
                return cached[1]
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap(handler.unary_unary, method),
                request_deserializer=_tolerant(handler.request_deserializer, method),
                response_serializer=handler.response_serializer,
            )
            if len(self._wrapped) < _MAX_WRAPPED_METHODS:
                self._wrapped[method] = (handler, wrapped)
            return wrapped
        return handler  # streaming RPCs are not part of our APIs

    def _identify(
        self, context: grpc.aio.ServicerContext, header: str | None, forwarded: str | None
    ) -> Caller:
        """The caller served: the immediate one, or the institution the gateway forwards
        (``shared.auth.resolve_caller``)."""
        return resolve_caller(self._immediate(context, header), forwarded)

    def _immediate(self, context: grpc.aio.ServicerContext, header: str | None) -> Caller:
        if self._tls:
            names = context.auth_context().get("x509_common_name") or []
            if names:
                return _parse_caller(names[0].decode())
        if self._insecure_dev and header:
            return _parse_caller(str(header))
        raise Unauthenticated("no caller identity: present a client certificate")

    def _admit(self, request: Any) -> None:
        if self.inflight >= self._max_inflight:
            RPC_SHED.labels(self._service).inc()
            raise ResourceExhausted(
                f"server busy: {self.inflight} requests in progress; retry after the hint",
                retry_after_s=0.5,
            )
        if isinstance(request, _Undecodable):
            raise InvalidArgument(
                "request", f"the bytes are not a valid {request.type_name} ({request.error})"
            )

    def _wrap(
        self, behavior: Callable[..., Awaitable[Any]], method: str
    ) -> Callable[..., Awaitable[Any]]:
        grpc_service, short = method.lstrip("/").rsplit("/", 1)
        # Metric children resolved once per method (and code), not on every call.
        inflight = INFLIGHT.labels(grpc_service)
        outcomes: dict[grpc.StatusCode, tuple[Any, Any]] = {}

        def outcome(code: grpc.StatusCode) -> tuple[Any, Any]:
            pair = outcomes.get(code)
            if pair is None:
                pair = outcomes[code] = (
                    RPC_LATENCY.labels(grpc_service, short, code.name),
                    RPC_HANDLED.labels(grpc_service, short, code.name),
                )
            return pair

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            given_id, caller_header, forwarded = _request_headers(context)
            request_id = clip(str(given_id), 64) if given_id else uuid.uuid4().hex
            code = grpc.StatusCode.OK
            caller_code = "-"
            token = None
            admitted = False
            bound = bind_contextvars(request_id=request_id, rpc=short)
            try:
                context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
                caller = self._identify(context, caller_header, forwarded)
                caller_code = caller.code
                self._admit(request)
                admitted = True
                self.inflight += 1
                inflight.inc()
                token = current_caller.set(caller)
                return await behavior(request, context)
            except DomainError as error:
                code = to_status(error)[0]
                await abort_with(context, error, request_id)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                if context.code() not in (None, grpc.StatusCode.OK):
                    code = context.code()  # the servicer aborted deliberately
                    raise
                if is_transient(error):
                    code = grpc.StatusCode.UNAVAILABLE
                    log.warning("rpc unavailable", fault=describe(error))
                    await abort_with(context, _unavailable(error), request_id)
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc failed")
                await context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"internal error (request id {request_id})",
                    trailing_metadata=((REQUEST_ID_HEADER, request_id),),
                )
            finally:
                if admitted:
                    self.inflight -= 1
                    inflight.dec()
                if token is not None:
                    current_caller.reset(token)
                elapsed_s = time.perf_counter() - started
                latency, handled = outcome(code)
                latency.observe(elapsed_s)
                handled.inc()
                # The access line is built only when INFO is on (the level is checked
                # first: below it, a structlog call would still run the whole chain).
                if _ACCESS.isEnabledFor(logging.INFO):
                    log.info(
                        "rpc",
                        caller=caller_code,
                        code=code.name,
                        latency_ms=round(elapsed_s * 1000, 2),
                    )
                reset_contextvars(**bound)

        return wrapped


def _unavailable(error: Exception) -> Unavailable:
    if isinstance(error, Unavailable):
        return error
    return Unavailable(
        f"a dependency is unavailable ({describe(error)}); retry with the same msgid or "
        "request id: a request that did commit is answered with its first response"
    )


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
    # Metrics of the service's own, sampled with the host's (see shared.metrics), and the
    # queues whose depth it reports (its work queues, the dead-letter queue).
    samplers: list[Sampler] = field(default_factory=list)
    watched_queues: list[str] = field(default_factory=list)


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
        clock_control.check_settings(settings)
        self.clock: Clock = shared_clock.clock()
        self._simulated: SimulatedClock | None = None
        self._previous_clock: Clock | None = None
        if settings.simulated_clock:
            self._simulated = SimulatedClock(settings.clock_start)
            self.clock = self._simulated
            self._previous_clock = shared_clock.install(self._simulated)
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
            # Clearing's month-end holds a session advisory lock: its connections get the
            # full reset; settlement and filing leave no session state behind.
            full_reset=self.service is ServiceName.CLEARING,
        )
        self._app = await self._build(Resources(self.service, s, self.pool, self.bus))
        self.interceptor = ServerInterceptor(
            self.service.value,
            tls=s.tls_dir is not None,
            insecure_dev=s.insecure_dev,
            max_inflight=s.grpc_max_inflight,
        )
        self.server = grpc.aio.server(
            interceptors=[self.interceptor],
            # A backstop above the interceptor's shedding (which answers with a retry
            # hint): health checks and reflection are not counted by the interceptor.
            maximum_concurrent_rpcs=2 * s.grpc_max_inflight + 64,
            options=[
                ("grpc.max_receive_message_length", s.grpc_max_message_bytes),
                ("grpc.max_send_message_length", s.grpc_max_message_bytes),
                ("grpc.max_connection_age_ms", s.grpc_max_connection_age_s * 1000),
                ("grpc.max_connection_age_grace_ms", s.grpc_max_connection_age_grace_s * 1000),
                # Several workers of one service bind the same port (shared.workers).
                ("grpc.so_reuseport", 1),
            ],
        )
        for register in self._app.register:
            register(self.server)
        if self._simulated is not None:
            clock_control.register(self.server, self._simulated)
            log.warning("simulated clock: development only", now=self.clock.now().isoformat())
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
        for concern in (DATABASE_HEALTH, BROKER_HEALTH):
            await self._health.set(concern, _status(False))
        await self._health.set(LIVE_HEALTH, _status(True))
        await self.server.start()
        if s.health_port:
            self._health_server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._health_server)
            self._health_server.add_insecure_port(f"0.0.0.0:{s.health_port}")
            await self._health_server.start()
        self._tasks.append(asyncio.create_task(self._connect_bus_then_run_background(), name="bus"))
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))
        self._tasks.append(asyncio.create_task(self._sample_metrics(), name="metrics"))
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
            except Exception as error:
                if is_transient(error):
                    # The database or the broker went away under the loop: expected
                    # during an outage, and the loop resumes when it is back.
                    log.warning(
                        "background loop lost a dependency; restarting in 2 s",
                        fault=describe(error),
                    )
                else:
                    log.exception("background loop failed; restarting in 2 s")
                await asyncio.sleep(2)

    async def _sample_metrics(self) -> None:
        assert self.pool is not None and self._app is not None
        pool, name, app = self.pool, self.service.value, self._app

        async def database() -> None:
            metrics.sample_pool(name, pool)
            await metrics.sample_outbox(name, pool)

        async def queues() -> None:
            if self.bus.connected:
                await metrics.sample_queues(self.bus.get(), app.watched_queues)

        await metrics.run_samplers(
            [database, queues, *app.samplers], self.settings.metrics_interval_s
        )

    async def _probe_database(self) -> bool:
        assert self.pool is not None
        try:
            async with asyncio.timeout(_HEALTH_PROBE_TIMEOUT_S):
                await self.pool.fetchval("SELECT 1")
            return True
        except Exception:  # any failure to reach the database means not serving
            return False

    async def _watch_health(self) -> None:
        """Health per concern. Readiness ("" and the API services' names) follows what the
        RPCs need: the database. The broker is a separate entry: while it is down the
        outbox buffers events in the database and every RPC still answers, so a broker
        outage must not pull the pods out of service. ``crossclear.live`` is SERVING while
        the process's event loop runs: the liveness probe, which must not restart pods
        for an outage of a server they depend on."""
        state: dict[str, bool] = {}
        while True:
            now = {
                DATABASE_HEALTH: await self._probe_database(),
                BROKER_HEALTH: self.bus.is_healthy(),
            }
            for concern, ok in now.items():
                DEPENDENCY_UP.labels(self.service.value, concern.rsplit(".", 1)[1]).set(
                    1 if ok else 0
                )
                if state.get(concern) != ok:
                    await self._health.set(concern, _status(ok))
                    log.info("health", concern=concern, serving=ok)
            if state.get(DATABASE_HEALTH) != now[DATABASE_HEALTH]:
                await self._set_health(now[DATABASE_HEALTH])
            state = now
            await asyncio.sleep(_HEALTH_INTERVAL_S)

    async def _set_health(self, ok: bool) -> None:
        for name in ["", *self._names]:
            await self._health.set(name, _status(ok))

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
        if self._previous_clock is not None:
            shared_clock.install(self._previous_clock)


def _status(ok: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return (
        health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
    )


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


# Young collections run every this many net allocations of container objects (Python's
# default: 700, about one per RPC here).
GC_YOUNG_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """Objects alive once a service has started (modules, descriptors, reference data,
    pools) live as long as the process: moved out of the collector's generations, no full
    collection walks them again; young collections come less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def serve_forever(service: ServiceName, settings: Settings, build: BuildFn) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight RPCs and stop cleanly."""
    port = metrics_port_of_worker(settings.metrics_port_of(service), worker_index())
    if port:
        start_http_server(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    host = ServiceHost(service, settings, build)
    await host.start()
    freeze_startup_heap()
    try:
        await stop.wait()
    finally:
        await host.stop()
