"""Chaos run: the three services under settlement load while their processes, the broker
and the database are killed one after another; then conservation across both schemas.

    scripts/chaos.sh [--load-s 90] [--hospitals 6] [--persons 120] [--out out/chaos]
    make chaos

What it does, in order:

1. creates its own PostgreSQL cluster (``pg_createcluster``, trust for 127.0.0.1) and
   its own RabbitMQ node (own node name, ports, data and log folders) on free ports, and
   removes both at the end — also after an error or Ctrl-C. The machine's own servers
   (5432, 5672) are never stopped, restarted or signalled. Needs root: the cluster runs
   as ``postgres`` and the node as ``rabbitmq``, like the machine's own.
2. starts filing, settlement and clearing as three processes (``crossclear serve``,
   development mode) against them. Settlement loads its reference data itself; insured
   persons and their filings are seeded through the filing API, as the benchmark does
   (``scripts/bench_settlement.py``, whose simulated hospitals are reused here).
3. runs simulated hospitals for a bounded time — outpatient and inpatient flows, some
   outpatient settlements reversed — each resending a call after UNAVAILABLE,
   DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED with the SAME request, hence the same msgid
   (the documented safe retry), plus two probes (filing GetPerson, clearing GetPeriod)
   and a health sampler of the three services.
4. meanwhile injects, one after the other with recovery time between: kill -9 of
   settlement, of filing, of clearing (each restarted at once), kill -9 of the RabbitMQ
   node (then restarted), and an immediate-mode PostgreSQL restart (crash recovery).
5. waits (bounded) for the outbox to drain and clearing to ingest, then checks, reading
   both schemas directly: every settlement and reversal has exactly one event, every
   event was ingested, every cross-pool one has exactly one set of ledger entries with
   the same per-fund amounts (local ones none), nothing in the ledger is unknown to
   settlement, no msgid or encounter settled twice, every settlement a hospital was told
   about exists with the setl_id it was told, nothing dead-lettered; fen totals per fund.
6. prints a table — per fault the gRPC codes clients saw, when the server side was back,
   when clients got OK again, health and pipeline lag — writes it to <out>/report.md with
   the services', PostgreSQL's and RabbitMQ's logs beside it, and exits 1 if
   conservation fails or any client saw INTERNAL or UNKNOWN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

import asyncpg  # noqa: E402
import bench_settlement as bench  # noqa: E402
import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from services.clearing.consumer import CONSUMER_NAME  # noqa: E402
from services.simulation.stack import service_env  # noqa: E402
from shared.bus import names  # noqa: E402
from shared.config import ServiceName, Settings  # noqa: E402
from shared.db import ensure_database  # noqa: E402
from shared.grpc_client import caller_metadata  # noqa: E402
from shared.grpc_errors import reason_of  # noqa: E402
from shared.pb.crossclear.clearing.v1 import clearing_pb2, clearing_pb2_grpc  # noqa: E402
from shared.pb.crossclear.events.v1 import events_pb2  # noqa: E402
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc  # noqa: E402
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb  # noqa: E402
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc  # noqa: E402

SERVICES: Final = ("filing", "settlement", "clearing")
DATABASE: Final = "crossclear"
NAMESPACE: Final = "crossclear-chaos"
CLUSTER_PREFIX: Final = "chaos_"  # + this process's pid: the private PostgreSQL cluster
NODE_PREFIX: Final = "chaos-"  # + pid + @localhost: the private RabbitMQ node
TMP_PREFIX: Final = "crossclear-chaos-"  # + pid + "-": the node's data and log folder
RUN_MARKER: Final = "CROSSCLEAR_CHAOS_RUN"  # in the services' environment: this run's pid
PREFERRED_PORTS: Final = {"postgres": 55432, "amqp": 55672, "erlang-dist": 55673}
# Guangdong hospitals settle cross-province for the seeded Nanning persons (cleared
# nationally); Nanning hospitals settle locally (not cleared: no ledger entries).
HOSPITAL_CODES: Final = (
    "H44010000001", "H44030000001", "H45010000001",
    "H44010000002", "H44040000001", "H45010000002",
)  # fmt: skip
OPERATOR: Final = "op-chaos"

RETRYABLE: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
BAD_CODES: Final = ("INTERNAL", "UNKNOWN")  # never acceptable, whatever the fault
ATTEMPT_TIMEOUT_S: Final = 5.0  # deadline of one attempt
RETRY_BUDGET_S: Final = 40.0  # a call is given up after this long (the flow is abandoned)
RETRY_FIRST_S, RETRY_MAX_S = 0.2, 1.0  # backoff between attempts (jittered)
REVERSAL_SHARE: Final = 0.1  # outpatient settlements reversed right after
# Clients reconnect quickly after a server comes back (gRPC's default backoff grows to
# minutes), so "OK again" measures the server, not the client's backoff.
CHANNEL_OPTIONS: Final[list[tuple[str, int]]] = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
SAMPLE_INTERVAL_S: Final = 0.5  # probes, health sampler, pipeline monitor
START_TIMEOUT_S: Final = 90.0
RESTORE_TIMEOUT_S: Final = 60.0
MIN_GAP_S: Final = 6.0  # at least this long between one fault's restoration and the next
TAIL_S: Final = 10.0  # load after the last restoration
DRAIN_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 25.0
HBA: Final = (
    "# crossclear chaos run: private cluster, loopback only\n"
    "local all all trust\n"
    "host  all all 127.0.0.1/32 trust\n"
    "host  all all ::1/128 trust\n"
)


def say(message: str) -> None:
    print(f"chaos: {message}", flush=True)


def sh(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 60.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded); raise RuntimeError with its output if asked."""
    result = subprocess.run(
        list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if check and result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-1200:]
        raise RuntimeError(f"`{' '.join(cmd)}` exited with {result.returncode}: {output}")
    return result


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int, taken: Iterable[int] = ()) -> int:
    taken = set(taken)
    if preferred not in taken and port_free(preferred):
        return preferred
    while True:
        port = bench.free_port()
        if port not in taken:
            return port


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the private PostgreSQL cluster -------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A cluster of this machine's PostgreSQL packages, named chaos_<pid>, on its own port."""

    version: str
    name: str
    port: int
    created: bool = False

    @classmethod
    def choose(cls, name: str, taken: Iterable[int] = ()) -> PrivatePostgres:
        root = Path("/etc/postgresql")
        versions = sorted((p.name for p in root.glob("*") if p.name.isdigit()), key=int)
        if not versions or shutil.which("pg_createcluster") is None:
            raise RuntimeError("PostgreSQL's cluster tools (pg_createcluster) are not installed")
        return cls(versions[-1], name, pick_port(PREFERRED_PORTS["postgres"], taken))

    def __post_init__(self) -> None:
        # Everything below acts on this cluster only: never on the machine's own.
        assert self.name.startswith(CLUSTER_PREFIX) and self.name != "main", self.name
        assert self.port != 5432

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def config_dir(self) -> Path:
        return Path(f"/etc/postgresql/{self.version}/{self.name}")

    @property
    def data_dir(self) -> Path:
        return Path(f"/var/lib/postgresql/{self.version}/{self.name}")

    @property
    def log_file(self) -> Path:
        return Path(f"/var/log/postgresql/postgresql-{self.version}-{self.name}.log")

    def _ctl(self, *args: str, timeout_s: float = 90.0) -> None:
        sh(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, *args],
            timeout_s=timeout_s,
        )

    def create(self, extra_conf: str = "") -> None:
        self.created = True  # from here on drop() has something to remove
        sh(
            [
                *("pg_createcluster", self.version, self.name, "-p", str(self.port)),
                "--start-conf=manual",  # never started by the machine's init scripts
            ]
        )
        with (self.config_dir / "postgresql.conf").open("a") as conf:  # the last value wins
            conf.write("\n# crossclear chaos run\nlisten_addresses = '127.0.0.1'\n" + extra_conf)
        hba = self.config_dir / "pg_hba.conf"
        hba.write_text(HBA)
        shutil.chown(hba, "postgres", "postgres")
        self._ctl("start")

    def restart_immediate(self) -> None:
        """Immediate shutdown (no checkpoint: crash recovery at start), then start."""
        self._ctl("restart", "-m", "immediate")

    def drop(self) -> None:
        if not self.created:
            return
        sh(["pg_dropcluster", "--stop", self.version, self.name], timeout_s=120, check=False)
        for leftover in (self.config_dir, self.data_dir):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
        self.created = False

    def cpu_s(self) -> float:
        """User + system CPU seconds of this cluster's live processes (the postmaster and
        every backend and worker under it) so far."""
        pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        return bench.tree_cpu_s(pid)

    def exists(self) -> bool:
        listed = sh(["pg_lsclusters", "--no-header"], check=False).stdout.split("\n")
        return any(line.split()[:2] == [self.version, self.name] for line in listed if line)


# --- the private RabbitMQ node --------------------------------------------------------------


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of this machine's packages with its own name, ports and folders.

    Every rabbitmqctl call names this node (-n); a pid is signalled only after its
    environment shows this node's data folder.
    """

    base: Path
    node: str
    port: int
    dist_port: int
    started: bool = False

    def __post_init__(self) -> None:
        assert self.node.startswith(NODE_PREFIX) and self.port != 5672, self.node

    @classmethod
    def prepare(cls, node: str, taken: Iterable[int] = ()) -> PrivateRabbit:
        if shutil.which("rabbitmq-server") is None:
            raise RuntimeError("RabbitMQ (rabbitmq-server) is not installed")
        taken = set(taken)
        port = pick_port(PREFERRED_PORTS["amqp"], taken)
        dist_port = pick_port(PREFERRED_PORTS["erlang-dist"], {*taken, port})
        base = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
        base.chmod(0o755)
        rabbit = cls(base, node, port, dist_port)
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
        (base / "enabled_plugins").write_text("[].\n")  # no management: its port is shared
        (base / "rabbitmq-env.conf").write_text("")  # not the machine's (it names its node)
        if os.geteuid() == 0:
            for path in (base, *base.iterdir()):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        return rabbit

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def mnesia(self) -> Path:
        return self.base / "mnesia"

    @property
    def pid_file(self) -> Path:
        return self.base / "rabbit.pid"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.mnesia),
                "RABBITMQ_LOG_BASE": str(self.base / "log"),
                "RABBITMQ_PID_FILE": str(self.pid_file),
                "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            }
        )
        return env

    def _cmd(self, tool: str, *args: str) -> list[str]:
        direct = Path("/usr/lib/rabbitmq/bin") / tool  # skips the package's su wrapper
        cmd = [str(direct) if direct.exists() else tool, *args]
        return ["runuser", "-u", "rabbitmq", "--", *cmd] if os.geteuid() == 0 else cmd

    def ctl(
        self, *args: str, timeout_s: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return sh(
            self._cmd("rabbitmqctl", "-n", self.node, *args),
            env=self.env(),
            cwd=self.base,
            timeout_s=timeout_s,
            check=check,
        )

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        self.started = True
        sh(self._cmd("rabbitmq-server", "-detached"), env=self.env(), cwd=self.base)
        deadline = time.monotonic() + timeout_s
        while True:  # the node registers with epmd a moment after -detached returns
            answer = self.ctl("await_startup", "--timeout", "10", timeout_s=30, check=False)
            if answer.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not start: {answer.stderr}")
            time.sleep(0.5)

    def pid(self) -> int | None:
        """The node's OS pid, only if that process really is this node."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"RABBITMQ_MNESIA_BASE={self.mnesia}".encode() in environ:
                return pid
        return None

    def kill9(self) -> None:
        pid = self.pid()
        if pid is None:
            raise RuntimeError(f"no running process for node {self.node}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def queue_messages(self) -> dict[str, int]:
        answer = self.ctl("-q", "list_queues", "name", "messages", "--no-table-headers")
        counts = {}
        for line in answer.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
        return counts

    def stop(self) -> None:
        if self.started:
            self.ctl("stop", str(self.pid_file), timeout_s=60, check=False)
            pid = self.pid()
            if pid is not None:  # did not stop in time: it is ours, so kill it
                os.kill(pid, signal.SIGKILL)
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)


def sweep_stale() -> list[str]:
    """Remove what an earlier run killed with -9 left behind: its service processes (found
    by the marker in their environment), its node and its cluster (named after its pid).
    Only runs whose pid is gone; another run's live instances are left alone."""
    removed = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            marker = re.search(
                rf"\x00{RUN_MARKER}=(\d+)\x00".encode(), b"\0" + environ.read_bytes()
            )
            if marker and not pid_alive(int(marker.group(1))):
                os.kill(int(environ.parent.name), signal.SIGKILL)
                removed.append(f"service process {environ.parent.name}")
    listed = sh(["pg_lsclusters", "--no-header"], check=False).stdout.splitlines()
    for line in listed:
        parts = line.split()
        match = re.fullmatch(rf"{CLUSTER_PREFIX}(\d+)", parts[1]) if len(parts) > 2 else None
        if match and not pid_alive(int(match.group(1))):
            PrivatePostgres(parts[0], parts[1], int(parts[2]), created=True).drop()
            removed.append(f"PostgreSQL cluster {parts[0]}/{parts[1]}")
    for base in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        match = re.match(rf"{TMP_PREFIX}(\d+)-", base.name)
        if match and base.is_dir() and not pid_alive(int(match.group(1))):
            node = f"{NODE_PREFIX}{match.group(1)}@localhost"
            PrivateRabbit(base, node, 0, 0, started=True).stop()
            removed.append(f"RabbitMQ node {node} ({base})")
    return removed


# --- the three services as processes ----------------------------------------------------------


class Services:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.env = {**service_env(settings), RUN_MARKER: str(os.getpid())}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for name in SERVICES:
            (log_dir / f"{name}.log").write_bytes(b"")

    def target(self, name: str) -> str:
        return self.settings.target_of(ServiceName(name))

    def spawn(self, name: str) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as sink:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", name],
                cwd=REPO,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only this script, which stops them
            )

    def kill9(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.wait(timeout=10)

    async def wait_serving(self, names: Iterable[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        names = list(names)
        while True:
            statuses = await asyncio.gather(*(health_of(self.target(n)) for n in names))
            if all(s == "SERVING" for s in statuses):
                return True
            for n in names:
                code = self.procs[n].poll()
                if code is not None:
                    raise RuntimeError(f"{n} exited with {code} (log: {self.log_dir}/{n}.log)")
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


async def health_of(target: str, timeout_s: float = 1.0) -> str:
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            return error.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


# --- what clients saw -----------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    client: str  # "hospital", "filing probe", "clearing probe"
    method: str
    started: float  # seconds since the load began
    ended: float
    code: str  # a gRPC status code name
    detail: str = ""  # for a failure: the reason or the server's message, and the request id


@dataclass(frozen=True)
class Sample:
    at: float
    values: tuple[Any, ...]


@dataclass
class Journal:
    t0: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    health: list[Sample] = field(default_factory=list)  # (service, status)
    pipeline: list[Sample] = field(default_factory=list)  # (pending, events, ingested)
    acked_settlements: dict[str, str] = field(default_factory=dict)  # msgid → setl_id
    acked_reversals: dict[str, str] = field(default_factory=dict)
    abandoned: Counter[str] = field(default_factory=Counter)  # why a flow stopped early

    def now(self) -> float:
        return time.monotonic() - self.t0

    def record(self, client: str, method: str, started: float, code: str, detail: str = "") -> None:
        self.attempts.append(Attempt(client, method, started, self.now(), code, detail))


def failure_detail(error: grpc.aio.AioRpcError, request_id: str) -> str:
    reason = reason_of(error)
    text = reason or (error.details() or "")
    return f"{text[:160]} [request {request_id}]"


class ChaosHospital(bench.SimulatedHospital):
    """The benchmark's simulated hospital, resending after transient failures with the
    same request (same msgid), and reversing some outpatient settlements."""

    def __init__(
        self,
        code: str,
        target: str,
        persons: Sequence[filing_pb2.Person],
        items: dict[str, tuple[list[Any], list[Any]]],
        stats: bench.Stats,
        rng: random.Random,
        journal: Journal,
        stop: asyncio.Event,
    ) -> None:
        super().__init__(code, target, persons, items, stats, rng)
        self._unused_channel = self._channel  # the benchmark's (default reconnect backoff)
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._stub = settlement_pb2_grpc.SettlementServiceStub(self._channel)
        self._journal = journal
        self._stop = stop
        self._reversible = False

    async def _call(self, method: str, request: Any) -> Any:
        first_attempt = time.monotonic()
        delay_s = RETRY_FIRST_S
        while True:
            request_id = uuid.uuid4().hex
            started = self._journal.now()
            try:
                response = await getattr(self._stub, method)(
                    request,
                    metadata=caller_metadata(self.code, request_id),
                    timeout=ATTEMPT_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
                self._journal.record(
                    "hospital", method, started, code.name, failure_detail(error, request_id)
                )
                if code not in RETRYABLE or time.monotonic() - first_attempt > RETRY_BUDGET_S:
                    raise
                await asyncio.sleep(delay_s * (0.5 + random.random()))
                delay_s = min(2 * delay_s, RETRY_MAX_S)
                continue
            self._journal.record("hospital", method, started, "OK")
            self._stats.latencies_ms[method].append(1000 * (self._journal.now() - started))
            return response

    async def outpatient(self) -> None:
        self._reversible = True
        try:
            await super().outpatient()
        finally:
            self._reversible = False

    async def _settle(self, person: filing_pb2.Person, mdtrt_id: str, total_fen: int) -> None:
        header = self._header()
        settled = await self._call(
            "Settle",
            pb.SettleRequest(
                header=header,
                mdtrt_id=mdtrt_id,
                psn_no=person.psn_no,
                acct_used_flag=True,
                medfee_sumamt_fen=total_fen,
            ),
        )
        info = settled.setlinfo
        self._journal.acked_settlements[header.msgid] = info.setl_id
        assert info.fund_pay_sumamt_fen + info.psn_part_amt_fen == total_fen
        self._stats.settlements += 1
        if self._reversible and self._rng.random() < REVERSAL_SHARE:
            header = self._header()
            reversed_ = await self._call(
                "ReverseSettlement",
                pb.ReverseSettlementRequest(
                    header=header, setl_id=info.setl_id, mdtrt_id=mdtrt_id, psn_no=person.psn_no
                ),
            )
            self._journal.acked_reversals[header.msgid] = reversed_.setlinfo.setl_id

    async def drive(self, inpatient_share: float) -> None:
        await self._unused_channel.close()
        try:
            while not self._stop.is_set():
                flow = self.inpatient if self._rng.random() < inpatient_share else self.outpatient
                try:
                    await flow()
                except grpc.aio.AioRpcError as error:
                    reason = reason_of(error)
                    self._journal.abandoned[
                        error.code().name + (f" {reason}" if reason else "")
                    ] += 1
        finally:
            await self._channel.close()


async def probe(
    journal: Journal,
    client: str,
    method: str,
    call: Callable[[Sequence[tuple[str, str]]], Awaitable[object]],
    caller: str,
    stop: asyncio.Event,
) -> None:
    """One call every SAMPLE_INTERVAL_S, never resent: each is one observation."""
    while not stop.is_set():
        request_id = uuid.uuid4().hex
        started = journal.now()
        try:
            await call(caller_metadata(caller, request_id))
        except grpc.aio.AioRpcError as error:
            journal.record(
                client, method, started, error.code().name, failure_detail(error, request_id)
            )
        else:
            journal.record(client, method, started, "OK")
        await asyncio.sleep(SAMPLE_INTERVAL_S)


async def sample_health(journal: Journal, services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        at = journal.now()
        statuses = await asyncio.gather(*(health_of(services.target(n)) for n in SERVICES))
        for name, status in zip(SERVICES, statuses, strict=True):
            journal.health.append(Sample(at, (name, status)))
        await asyncio.sleep(SAMPLE_INTERVAL_S)


PIPELINE_SQL: Final = """
    SELECT (SELECT count(*) FROM settlement.outbox WHERE published_at IS NULL) AS pending,
           (SELECT count(*) FROM settlement.outbox) AS events,
           (SELECT count(*) FROM clearing.inbox WHERE consumer = $1) AS ingested"""


async def pipeline_state(conn: asyncpg.Connection) -> tuple[int, int, int]:
    row = await conn.fetchrow(PIPELINE_SQL, CONSUMER_NAME, timeout=2)
    assert row is not None
    return int(row["pending"]), int(row["events"]), int(row["ingested"])


async def sample_pipeline(journal: Journal, url: str, stop: asyncio.Event) -> None:
    """Outbox rows not yet published, and settlement events not yet ingested by clearing.
    Reconnects after a database restart; a sample that fails is simply missing."""
    conn: asyncpg.Connection | None = None
    try:
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(url, timeout=2)
                journal.pipeline.append(Sample(journal.now(), await pipeline_state(conn)))
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if conn is not None:
                    conn.terminate()
                conn = None
            await asyncio.sleep(SAMPLE_INTERVAL_S)
    finally:
        if conn is not None and not conn.is_closed():
            await conn.close()


# --- faults ---------------------------------------------------------------------------------


@dataclass
class FaultRun:
    name: str
    injected: float  # s since the load began
    restored: float | None = None  # the server side back (process SERVING, broker, database)
    serving: float | None = None  # all three services SERVING again
    note: str = ""


async def inject(
    journal: Journal, services: Services, name: str, action: Callable[[], Awaitable[None]]
) -> FaultRun:
    run = FaultRun(name, journal.now())
    say(f"t={run.injected:5.1f} s  {name}")
    try:
        await action()
        run.restored = journal.now()
        if await services.wait_serving(SERVICES, RESTORE_TIMEOUT_S):
            run.serving = journal.now()
        else:
            run.note = f"not all services SERVING {RESTORE_TIMEOUT_S:.0f} s after restoration"
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        run.note = f"{type(error).__name__}: {error}"
    say(
        f"t={journal.now():5.1f} s  back: server {fmt_s(run.restored, run.injected)} s, "
        f"all SERVING {fmt_s(run.serving, run.injected)} s {run.note}"
    )
    return run


def fault_plan(
    services: Services, pg: PrivatePostgres, rabbit: PrivateRabbit
) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    def restart_service(name: str) -> Callable[[], Awaitable[None]]:
        async def action() -> None:
            await asyncio.to_thread(services.kill9, name)
            services.spawn(name)  # at once, as a supervisor would
            if not await services.wait_serving([name], RESTORE_TIMEOUT_S):
                raise RuntimeError(f"{name} not SERVING {RESTORE_TIMEOUT_S:.0f} s after restart")

        return action

    async def restart_broker() -> None:
        await asyncio.to_thread(rabbit.kill9)
        await asyncio.to_thread(rabbit.start)

    async def restart_database() -> None:
        await asyncio.to_thread(pg.restart_immediate)

    return [
        ("kill -9 settlement", restart_service("settlement")),
        ("kill -9 filing", restart_service("filing")),
        ("kill -9 clearing", restart_service("clearing")),
        ("kill -9 RabbitMQ node", restart_broker),
        ("PostgreSQL restart -m immediate", restart_database),
    ]


async def run_faults(
    journal: Journal,
    services: Services,
    plan: Sequence[tuple[str, Callable[[], Awaitable[None]]]],
    args: argparse.Namespace,
) -> list[FaultRun]:
    runs: list[FaultRun] = []
    for i, (name, action) in enumerate(plan):
        at = args.baseline_s + i * args.spacing_s
        if runs:
            back = runs[-1].serving or runs[-1].restored or journal.now()
            at = max(at, back + MIN_GAP_S)
        await asyncio.sleep(max(0.0, at - journal.now()))
        runs.append(await inject(journal, services, name, action))
    back = runs[-1].serving or runs[-1].restored or journal.now()
    await asyncio.sleep(max(0.0, max(args.load_s, back + TAIL_S) - journal.now()))
    return runs


# --- after the load: drain, then conservation -------------------------------------------------


async def wait_drained(url: str) -> tuple[float | None, tuple[int, int, int]]:
    """Seconds until every outbox row is published and every event ingested (None: not
    within DRAIN_TIMEOUT_S), and the last (pending, events, ingested)."""
    started = time.monotonic()
    state = (-1, -1, -1)
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
            conn = await asyncpg.connect(url, timeout=5)
            try:
                state = await pipeline_state(conn)
            finally:
                await conn.close()
            pending, events, ingested = state
            if pending == 0 and events == ingested:
                return time.monotonic() - started, state
        await asyncio.sleep(1.0)
    return None, state


CLEARED_FUNDS: Final = {
    "hifp": "hifp_pay_fen",
    "hifob": "hifob_pay_fen",
    "hifmi": "hifmi_pay_fen",
    "cvlserv": "cvlserv_pay_fen",
    "maf": "maf_pay_fen",
    "acct": "acct_pay_fen",
}
LEDGER_KIND: Final = {"SETTLEMENT": "SETTLED", "REVERSAL": "REVERSED"}


@dataclass
class Conservation:
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    settlement_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLEARED_FUNDS, 0))
    ledger_fen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLEARED_FUNDS, 0))

    @property
    def passed(self) -> bool:
        return not self.problems

    def fail(self, problem: str) -> None:
        self.problems.append(problem)


async def check_conservation(url: str, journal: Journal, dead_letters: int | None) -> Conservation:
    result = Conservation()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        # Every fund's amount is a key of fund_pay_fen; the personal account has a column.
        columns = ", ".join(
            column
            if column == "acct_pay_fen"
            else f"coalesce((fund_pay_fen->>'{fund}')::bigint, 0) AS {column}"
            for fund, column in CLEARED_FUNDS.items()
        )
        settlements = await conn.fetch(
            f"""SELECT setl_id, kind, msgid, insured_pool, treatment_pool,
                       fund_pay_fen - ARRAY[{", ".join(f"'{f}'" for f in CLEARED_FUNDS)}]
                           <> '{{}}'::jsonb AS uncleared_funds,
                       {columns}
                FROM settlement.settlements"""
        )
        outbox = await conn.fetch(
            "SELECT message_id::text AS id, message_type, payload, published_at FROM settlement.outbox"
        )
        inbox = {
            r["message_id"]
            for r in await conn.fetch(
                "SELECT message_id FROM clearing.inbox WHERE consumer = $1", CONSUMER_NAME
            )
        }
        ledger = await conn.fetch(
            "SELECT setl_id, kind, event_id, fund, amount_fen FROM clearing.ledger"
        )
        twice = await conn.fetch(
            """SELECT mdtrt_id, count(*) AS n FROM settlement.settlements
               WHERE kind = 'SETTLEMENT' AND reversed_by_setl_id IS NULL
               GROUP BY 1 HAVING count(*) > 1"""
        )
    finally:
        await conn.close()

    # One event per settlement and reversal, published, ingested.
    events_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in outbox:
        event = events_pb2.SettlementEvent()
        event.ParseFromString(row["payload"])
        kind = "REVERSED" if event.kind == events_pb2.SETTLEMENT_EVENT_KIND_REVERSED else "SETTLED"
        events_of[(event.setl_id, kind)].append(row["id"])
        if row["published_at"] is None:
            result.fail(f"outbox event {row['id']} ({event.setl_id}) never published")
        if row["id"] not in inbox:
            result.fail(f"event {row['id']} ({event.setl_id} {kind}) never ingested by clearing")
    # The ledger, per settlement (or reversal): its per-fund amounts and the events they came from.
    ledger_of: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    ledger_events: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in ledger:
        key = (row["setl_id"], row["kind"])
        if row["fund"] in ledger_of[key]:
            result.fail(f"ledger: {key} has fund {row['fund']} twice")
        ledger_of[key][row["fund"]] = ledger_of[key].get(row["fund"], 0) + int(row["amount_fen"])
        ledger_events[key].add(row["event_id"])
        result.ledger_fen[row["fund"]] += int(row["amount_fen"])

    known: set[tuple[str, str]] = set()
    msgids: Counter[str] = Counter()
    by_msgid: dict[str, str] = {}
    cross = local = reversals = 0
    for row in settlements:
        key = (row["setl_id"], LEDGER_KIND[row["kind"]])
        known.add(key)
        msgids[row["msgid"]] += 1
        by_msgid[row["msgid"]] = row["setl_id"]
        reversals += row["kind"] == "REVERSAL"
        if row["uncleared_funds"]:
            result.fail(f"{key}: amounts of a fund which clearing does not clear")
        events = events_of.get(key, [])
        if len(events) != 1:
            result.fail(f"{key}: {len(events)} outbox events, want exactly 1")
        if row["insured_pool"] == row["treatment_pool"]:
            local += 1
            expected: dict[str, int] = {}
        else:
            cross += 1
            expected = {f: int(row[c]) for f, c in CLEARED_FUNDS.items() if row[c]}
            for fund, amount in expected.items():
                result.settlement_fen[fund] += amount
        got = ledger_of.get(key, {})
        if got != expected:
            result.fail(f"{key}: ledger {got} != settlement {expected}")
        if expected and ledger_events.get(key, set()) != set(events):
            result.fail(
                f"{key}: ledger entries from events {ledger_events.get(key)}, want {events}"
            )
    for key in ledger_of.keys() - known:
        result.fail(f"ledger entries for {key}, unknown to the settlement schema")
    for key in events_of.keys() - known:
        result.fail(f"outbox events for {key}, unknown to the settlement schema")
    for msgid, n in msgids.items():
        if n > 1:
            result.fail(f"msgid {msgid} settled {n} times")
    for row in twice:
        result.fail(f"encounter {row['mdtrt_id']} has {row['n']} standing settlements")
    for label, acked in (
        ("settlement", journal.acked_settlements),
        ("reversal", journal.acked_reversals),
    ):
        for msgid, setl_id in acked.items():
            if by_msgid.get(msgid) != setl_id:
                result.fail(
                    f"{label} {setl_id} acknowledged to the hospital (msgid {msgid}) but the "
                    f"schema has {by_msgid.get(msgid)!r}"
                )
    if dead_letters is None:
        result.fail("dead-letter queue not found")
    elif dead_letters:
        result.fail(f"{dead_letters} message(s) dead-lettered")
    if result.settlement_fen != result.ledger_fen:
        result.fail("fund totals differ between the settlement schema and the ledger")
    answered = set(journal.acked_settlements) | set(journal.acked_reversals)
    result.counts = {
        "settlements": len(settlements) - reversals,
        "reversals": reversals,
        "cross-pool (cleared)": cross,
        "local (not cleared)": local,
        "outbox events": len(outbox),
        "ingested by clearing": len(inbox),
        "ledger entries": len(ledger),
        "ledger sets": len(ledger_of),
        "acknowledged to hospitals": len(answered),
        "committed, answer never received": sum(1 for m in by_msgid if m not in answered),
    }
    return result


# --- the report --------------------------------------------------------------------------------


def fmt_s(at: float | None, since: float) -> str:
    return "—" if at is None else f"{at - since:.1f}"


def codes_cell(attempts: Iterable[Attempt]) -> str:
    counts = Counter(a.code for a in attempts)
    if not counts:
        return "—"
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] != "OK", -kv[1]))
    return ", ".join(f"{code} {n}" for code, n in ordered)


def recovered_at(attempts: Sequence[Attempt], start: float, end: float) -> tuple[float | None, str]:
    """When clients got OK again, and the call that was last to: for each (client, method)
    that failed in [start, end), the first OK of an attempt started after its first failure
    there; the latest of those. (``start``, "") when nothing failed; (None, call) when a
    call never got OK again."""
    first_failure: dict[tuple[str, str], float] = {}
    for a in attempts:
        if start <= a.ended < end and a.code != "OK":
            key = (a.client, a.method)
            first_failure[key] = min(first_failure.get(key, a.ended), a.ended)
    latest, last = start, ""
    for key, failed_at in first_failure.items():
        oks = [
            a.ended
            for a in attempts
            if (a.client, a.method) == key and a.code == "OK" and a.started >= failed_at
        ]
        if not oks:
            return None, " ".join(key)
        if min(oks) > latest:
            latest, last = min(oks), " ".join(key)
    return latest, last


def not_serving_cell(samples: Sequence[Sample], start: float, end: float) -> str:
    samples_off: Counter[str] = Counter()
    for s in samples:
        name, status = s.values
        if start <= s.at < end and status != "SERVING":
            samples_off[name] += 1
    cells = (f"{n} {v * SAMPLE_INTERVAL_S:.1f}" for n, v in sorted(samples_off.items()))
    return ", ".join(cells) or "—"


def lag_cells(
    samples: Sequence[Sample], start: float, end: float, normal_lag: int
) -> tuple[str, str]:
    """Max (unpublished, not ingested) in the window, and when the backlog was back to
    ``normal_lag`` after its peak (s after the fault; "—" if it never went beyond)."""
    window = [s for s in samples if start <= s.at < end]
    if not window:
        return "no samples", "—"
    pending = max(s.values[0] for s in window)
    lags = [(s.at, s.values[1] - s.values[2]) for s in window]
    peak_at, peak = max(lags, key=lambda x: x[1])
    back = "—"
    if peak > normal_lag:
        later = [at for at, lag in lags if at > peak_at and lag <= normal_lag]
        back = f"{later[0] - start:.1f}" if later else "not in window"
    return f"{pending} / {peak}", back


def window_bounds(runs: Sequence[FaultRun], load_end: float) -> list[tuple[str, float, float]]:
    starts = [r.injected for r in runs]
    bounds = [("(baseline)", 0.0, starts[0] if starts else load_end)]
    for i, run in enumerate(runs):
        bounds.append((run.name, run.injected, starts[i + 1] if i + 1 < len(runs) else load_end))
    return bounds


def scan_logs(log_dir: Path) -> dict[str, Counter[str]]:
    """Per service: the warning and error events of its JSON log ("level: event (error)
    [last line of the exception]"), counted."""
    found: dict[str, Counter[str]] = {}
    for name in SERVICES:
        counts: Counter[str] = Counter()
        path = log_dir / f"{name}.log"
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
            except ValueError:
                if "Traceback" in line or "Error" in line:
                    counts[f"(non-JSON) {line.strip()[:100]}"] += 1
                continue
            if not isinstance(record, dict) or record.get("level") not in (
                "warning",
                "error",
                "critical",
            ):
                continue
            exception = str(record.get("exception") or "").strip().splitlines()
            where = f" [{exception[-1][:120]}]" if exception else ""
            error = f" ({str(record['error'])[:80]})" if record.get("error") else ""
            counts[f"{record['level']}: {record.get('event')}{error}{where}"] += 1
        found[name] = counts
    return found


def render(
    args: argparse.Namespace,
    context: dict[str, str],
    journal: Journal,
    runs: Sequence[FaultRun],
    load_end: float,
    stats: bench.Stats,
    drained: tuple[float | None, tuple[int, int, int]],
    conservation: Conservation,
    logs: dict[str, Counter[str]],
) -> str:
    attempts = journal.attempts
    bad = [a for a in attempts if a.code in BAD_CODES]
    verdict = "PASS" if conservation.passed and not bad else "FAIL"
    baseline_end = runs[0].injected if runs else load_end
    # Under load a few events are always on their way; a backlog counts from twice the
    # baseline's worst (and at least 10 events) on.
    normal_lag = 10 + 2 * max(
        [s.values[1] - s.values[2] for s in journal.pipeline if s.at < baseline_end] or [0]
    )
    lines = [
        f"## Chaos run {context['date']} — {verdict}",
        "",
        f"- code: {context['code']}",
        f"- load: {len(HOSPITAL_CODES[: args.hospitals])} simulated hospitals "
        f"({', '.join(HOSPITAL_CODES[: args.hospitals])}), {args.persons} persons insured in "
        f"Nanning, inpatient share {args.inpatient_share:.0%}, {REVERSAL_SHARE:.0%} of "
        f"outpatient settlements reversed; {load_end:.1f} s of load",
        f"- a call is resent with the same msgid after "
        f"{', '.join(sorted(c.name for c in RETRYABLE))} (attempt deadline "
        f"{ATTEMPT_TIMEOUT_S:.0f} s, given up after {RETRY_BUDGET_S:.0f} s); probes every "
        f"{SAMPLE_INTERVAL_S} s: filing GetPerson, clearing GetPeriod",
        f"- private PostgreSQL {context['postgres']}, RabbitMQ {context['rabbitmq']}",
        "",
        "Times are seconds after the fault was injected. *server back*: the process "
        "SERVING again, the broker booted, the database accepting connections. *clients OK "
        "again*: every RPC that failed during the fault has succeeded again (the last one "
        "to). *not SERVING*: seconds each service's health said otherwise. *backlog*: outbox "
        "rows not yet published / events not yet ingested by clearing, at most.",
        "",
        "| fault | at | server back | all SERVING | clients OK again | hospital RPCs "
        "(settlement) | filing probe | clearing probe | not SERVING | backlog | backlog "
        "back to normal |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- | --- | ---: | ---: |",
    ]
    run_of = {r.name: r for r in runs}
    for name, start, end in window_bounds(runs, load_end):
        within = [a for a in attempts if start <= a.ended < end]
        run = run_of.get(name)
        recovered, last_call = recovered_at(attempts, start, end)
        if recovered is None:
            ok_again = f"never ({last_call})"
        elif not last_call:
            ok_again = "no failures"
        else:
            ok_again = f"{recovered - start:.1f} ({last_call.removeprefix('hospital ')})"
        backlog, back = lag_cells(journal.pipeline, start, end, normal_lag)
        lines.append(
            "| "
            + " | ".join(
                [
                    name + (f" ({run.note})" if run and run.note else ""),
                    f"{start:.1f}",
                    fmt_s(run.restored, start) if run else "",
                    fmt_s(run.serving, start) if run else "",
                    ok_again,
                    codes_cell(a for a in within if a.client == "hospital"),
                    codes_cell(a for a in within if a.client == "filing probe"),
                    codes_cell(a for a in within if a.client == "clearing probe"),
                    not_serving_cell(journal.health, start, end),
                    backlog,
                    back,
                ]
            )
            + " |"
        )
    lines.append(
        f"| **all** | | | | | {codes_cell(a for a in attempts if a.client == 'hospital')} | "
        f"{codes_cell(a for a in attempts if a.client == 'filing probe')} | "
        f"{codes_cell(a for a in attempts if a.client == 'clearing probe')} | | | |"
    )
    per_method: defaultdict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        if a.client == "hospital":
            per_method[a.method].append(a)
    drained_s, (pending, events, ingested) = drained
    resent = sum(1 for a in attempts if a.client == "hospital" and a.code != "OK")
    lines += [
        "",
        "Per RPC (whole run): "
        + "; ".join(f"{m} {codes_cell(v)}" for m, v in sorted(per_method.items())),
        "",
        f"- flows completed: {dict(sorted(stats.flows.items()))}; settlements acknowledged "
        f"{len(journal.acked_settlements)}, reversals {len(journal.acked_reversals)}; "
        f"failed attempts (resent if transient) {resent}",
        f"- flows abandoned: {dict(journal.abandoned) or 'none'}",
        "- after the load: outbox drained and clearing caught up in "
        + (f"{drained_s:.1f} s" if drained_s is not None else f"NOT within {DRAIN_TIMEOUT_S:.0f} s")
        + f" ({events} events, {pending} unpublished, {ingested} ingested)",
        "",
        f"### Conservation: {'PASS' if conservation.passed else 'FAIL'}",
        "",
        "- " + ", ".join(f"{k} {v}" for k, v in conservation.counts.items()),
        "",
        "| fund | settlement schema (cross-pool) fen | clearing ledger fen | difference |",
        "| --- | ---: | ---: | ---: |",
    ]
    for fund in CLEARED_FUNDS:
        s, c = conservation.settlement_fen[fund], conservation.ledger_fen[fund]
        lines.append(f"| {fund} | {s:,} | {c:,} | {s - c:,} |")
    s_total, c_total = (
        sum(conservation.settlement_fen.values()),
        sum(conservation.ledger_fen.values()),
    )
    lines.append(f"| **total** | **{s_total:,}** | **{c_total:,}** | **{s_total - c_total:,}** |")
    if conservation.problems:
        lines += ["", f"{len(conservation.problems)} problem(s):", ""]
        lines += [f"- {p}" for p in conservation.problems[:25]]
        if len(conservation.problems) > 25:
            lines.append(f"- … and {len(conservation.problems) - 25} more")
    lines += ["", "### Findings", ""]
    if bad:
        windows = window_bounds(runs, load_end)
        seen: Counter[tuple[str, str, str]] = Counter()
        examples: dict[tuple[str, str, str], str] = {}
        for a in bad:
            window = next((n for n, s, e in windows if s <= a.ended < e), "after the load")
            key = (window, f"{a.client} {a.method}", a.code)
            seen[key] += 1
            examples.setdefault(key, a.detail)
        for (window, call, code), n in seen.items():
            lines.append(
                f"- {code} ×{n} during *{window}* on {call}: {examples[(window, call, code)]}"
            )
    else:
        lines.append("- no client saw INTERNAL or UNKNOWN")
    for name, counts in logs.items():
        errors = [(k, n) for k, n in counts.most_common() if not k.startswith("warning")]
        warnings = [(k, n) for k, n in counts.most_common() if k.startswith("warning")]
        for event, n in errors:
            lines.append(f"- {name} log: {event} ×{n}")
        if warnings:
            top = "; ".join(f"{k.removeprefix('warning: ')[:70]} ×{n}" for k, n in warnings[:4])
            lines.append(
                f"- {name} log: {sum(n for _, n in warnings)} warnings (most frequent: {top})"
            )
    return "\n".join(lines) + "\n"


# --- the run ---------------------------------------------------------------------------------------


async def chaos(
    args: argparse.Namespace,
    pg: PrivatePostgres,
    rabbit: PrivateRabbit,
    services: Services,
    context: dict[str, str],
) -> int:
    settings = services.settings
    await ensure_database(settings.database_url)
    for name in SERVICES:
        services.spawn(name)
    if not await services.wait_serving(SERVICES, START_TIMEOUT_S):
        raise RuntimeError(f"the services did not become SERVING (logs in {args.out})")
    say(f"services SERVING; seeding {args.persons} persons and their filings")
    persons = await bench.seed_persons(settings.filing_target, args.persons)
    items = bench.billable_items()
    stats = bench.Stats()
    rng = random.Random(args.seed)
    stop = asyncio.Event()
    journal = Journal()
    hospitals = [
        ChaosHospital(
            code,
            settings.settlement_target,
            persons,
            items,
            stats,
            random.Random(rng.random()),
            journal,
            stop,
        )
        for code in HOSPITAL_CODES[: args.hospitals]
    ]
    filing_channel = grpc.aio.insecure_channel(settings.filing_target, options=CHANNEL_OPTIONS)
    clearing_channel = grpc.aio.insecure_channel(settings.clearing_target, options=CHANNEL_OPTIONS)
    filing = filing_pb2_grpc.FilingServiceStub(filing_channel)
    clearing = clearing_pb2_grpc.ClearingServiceStub(clearing_channel)
    period = f"{bench.today():%Y%m}"

    async def get_person(metadata: Sequence[tuple[str, str]]) -> object:
        request = filing_pb2.GetPersonRequest(psn_no=rng.choice(persons).psn_no)
        return await filing.GetPerson(request, metadata=metadata, timeout=2.0)

    async def get_period(metadata: Sequence[tuple[str, str]]) -> object:
        request = clearing_pb2.GetPeriodRequest(period=period)
        return await clearing.GetPeriod(request, metadata=metadata, timeout=2.0)

    monitor_stop = asyncio.Event()
    journal.t0 = time.monotonic()
    say(
        f"load: {len(hospitals)} hospitals for about {args.load_s:.0f} s, faults from t={args.baseline_s:.0f} s"
    )
    load = [asyncio.create_task(h.drive(args.inpatient_share)) for h in hospitals]
    load += [
        asyncio.create_task(
            probe(journal, "filing probe", "GetPerson", get_person, bench.INSURED_POOL, stop)
        ),
        asyncio.create_task(
            probe(journal, "clearing probe", "GetPeriod", get_period, OPERATOR, stop)
        ),
        asyncio.create_task(sample_health(journal, services, stop)),
    ]
    monitor = asyncio.create_task(sample_pipeline(journal, settings.database_url, monitor_stop))
    try:
        runs = await run_faults(journal, services, fault_plan(services, pg, rabbit), args)
    finally:
        stop.set()
        done, late = await asyncio.wait(load, timeout=RETRY_BUDGET_S + 2 * ATTEMPT_TIMEOUT_S)
        for task in late:
            task.cancel()
    load_end = journal.now()
    for task in done:
        failure = task.exception()
        if failure is not None:  # a bug of this script, not a finding: stop here
            raise failure
    say(f"t={load_end:5.1f} s  load stopped; waiting for the outbox and clearing to catch up")
    drained = await wait_drained(settings.database_url)
    monitor_stop.set()
    await monitor
    await filing_channel.close()
    await clearing_channel.close()
    queues = await asyncio.to_thread(rabbit.queue_messages)
    dead_letters = queues.get(names.dead_letter_queue(settings.bus_namespace))
    conservation = await check_conservation(settings.database_url, journal, dead_letters)
    report = render(
        args,
        context,
        journal,
        runs,
        load_end,
        stats,
        drained,
        conservation,
        scan_logs(args.out),
    )
    print()
    print(report, flush=True)
    (args.out / "report.md").write_text(report)
    bad = sum(1 for a in journal.attempts if a.code in BAD_CODES)
    return 0 if conservation.passed and not bad else 1


def git_state() -> str:
    head = sh(["git", "rev-parse", "--short", "HEAD"], check=False).stdout.strip() or "?"
    dirty = sh(["git", "status", "--porcelain"], check=False).stdout.strip()
    return f"{head}" + (" + uncommitted changes in the working tree" if dirty else "")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load-s", type=float, default=90.0, help="least length of the load")
    parser.add_argument(
        "--baseline-s", type=float, default=10.0, help="load before the first fault"
    )
    parser.add_argument("--spacing-s", type=float, default=15.0, help="between fault injections")
    parser.add_argument("--hospitals", type=int, default=6, help=f"1–{len(HOSPITAL_CODES)}")
    parser.add_argument("--persons", type=int, default=120)
    parser.add_argument("--inpatient-share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=20260315)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "chaos", help="logs and report")
    args = parser.parse_args()
    assert 1 <= args.hospitals <= len(HOSPITAL_CODES) and 10 <= args.persons <= 2_000
    assert 10 <= args.load_s <= 600 and 1 <= args.baseline_s <= 120 and 5 <= args.spacing_s <= 120
    if os.geteuid() != 0:
        say("needs root: the private cluster runs as postgres and the node as rabbitmq")
        return 2
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)
    # Ctrl-C and SIGTERM both end in the clean-up below, even when started in the
    # background (which would otherwise inherit an ignored SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupted)
    wall = time.monotonic()
    pid = os.getpid()
    pg: PrivatePostgres | None = None
    rabbit: PrivateRabbit | None = None
    services: Services | None = None
    code = 2
    try:
        for stale in sweep_stale():
            say(f"removed a stale instance of an earlier run: {stale}")
        pg = PrivatePostgres.choose(f"{CLUSTER_PREFIX}{pid}")
        rabbit = PrivateRabbit.prepare(f"{NODE_PREFIX}{pid}@localhost", taken=[pg.port])
        say(f"PostgreSQL {pg.version} cluster {pg.name} on 127.0.0.1:{pg.port}")
        pg.create()
        say(f"RabbitMQ node {rabbit.node} on 127.0.0.1:{rabbit.port} ({rabbit.base})")
        rabbit.start()
        ports = [bench.free_port() for _ in SERVICES]
        settings = Settings(
            database_url=pg.url,
            amqp_url=rabbit.url,
            bus_namespace=NAMESPACE,
            filing_target=f"127.0.0.1:{ports[0]}",
            settlement_target=f"127.0.0.1:{ports[1]}",
            clearing_target=f"127.0.0.1:{ports[2]}",
            insecure_dev=True,
            metrics_port=0,
            log_format="json",
            log_level="WARNING",
        )
        services = Services(settings, args.out)
        context = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "code": git_state(),
            "postgres": f"{pg.version} (cluster {pg.name}, 127.0.0.1:{pg.port})",
            "rabbitmq": f"node {rabbit.node} (127.0.0.1:{rabbit.port})",
        }
        code = asyncio.run(chaos(args, pg, rabbit, services, context))
    except KeyboardInterrupt:
        say("interrupted: cleaning up")
        code = 130
    except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as error:
        say(f"failed: {error}")
        code = 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup(services, rabbit, pg, args.out)
    say(f"wall time {time.monotonic() - wall:.0f} s; exit {code}")
    return code


def cleanup(
    services: Services | None, rabbit: PrivateRabbit | None, pg: PrivatePostgres | None, out: Path
) -> None:
    """Each step on its own, so that one failing does not leave the others behind."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if services is not None:
        steps.append(("stop the services", services.stop_all))
    if rabbit is not None:
        log_dir = rabbit.base / "log"
        steps.append(
            ("keep the RabbitMQ log", lambda: keep_logs(log_dir.glob("*.log"), out, "rabbitmq.log"))
        )
        steps.append(("stop the RabbitMQ node", rabbit.stop))
    if pg is not None:
        steps.append(
            ("keep the PostgreSQL log", lambda: keep_logs([pg.log_file], out, "postgresql.log"))
        )
        steps.append(("drop the PostgreSQL cluster", pg.drop))
    for what, step in steps:
        try:
            step()
        except Exception as error:  # report and go on: the other steps must still run
            say(f"clean-up: could not {what}: {error}")
    gone = []
    if pg is not None:
        gone.append(f"cluster {pg.name} {'STILL LISTED' if pg.exists() else 'gone'}")
    if rabbit is not None:
        alive = rabbit.pid() is not None or rabbit.base.exists()
        gone.append(f"node {rabbit.node} {'STILL THERE' if alive else 'gone'}")
    if gone:
        say("private instances: " + ", ".join(gone))


def keep_logs(paths: Iterable[Path], out: Path, name: str) -> None:
    for path in paths:
        if path.is_file() and not path.name.endswith("_upgrade.log"):
            shutil.copyfile(path, out / name)


if __name__ == "__main__":
    sys.exit(main())
