"""Settlement benchmark: simulated hospitals against real filing and settlement processes.

    .venv/bin/python scripts/bench_settlement.py [--hospitals 16] [--duration-s 60]

What it does, in order:

1. creates a scratch database (``crossclear_bench_<random>``) on the configured PostgreSQL
   and starts the filing and settlement services as separate processes on it (insecure
   development mode, their own bus namespace, logging at WARNING);
2. seeds insured persons (Nanning employees with a year-opening personal-account balance
   and a long-term filing for Guangdong) through the filing service's gRPC API;
3. saturation (closed loop): runs N simulated hospital systems, spread over several
   load-generator processes so that the generator is not the limit, for a bounded time,
   each doing one flow after another: outpatient (2201 register, 2204 upload 5 lines,
   2207 settle) or inpatient (2401 admit, 2301 upload 40 lines, 2304 settle, 2402
   discharge); CPU seconds of every process (settlement, filing, PostgreSQL, the broker,
   the load generator) and the whole machine's busy and idle time are read from /proc
   before and after;
4. half the saturation rate (open loop): outpatient flows started at a fixed arrival
   rate, whatever the answer times, to show Settle latency below saturation;
5. stops the services, checks what the database holds (settlements, outbox events, the
   accumulations), and reports settlements/s, the ratio to pgbench, Settle p50/p99 in
   both phases and CPU-milliseconds per settlement of each process;
6. runs ``pgbench -i`` and ``pgbench -b tpcb-like -T 20 -c 4`` on another scratch database
   of the same server, for comparison; drops both scratch databases.

Nothing here is a test: it measures. The method and measured numbers are in
docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import multiprocessing
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc
import uvloop

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.settlement.domain.bill import line_amount_fen  # noqa: E402
from services.settlement.domain.catalogue import CatalogueItem  # noqa: E402
from services.settlement.domain.inputs import CHINA_TZ  # noqa: E402
from services.settlement.domain.seed import load_catalogues  # noqa: E402
from services.simulation.stack import reset_namespace  # noqa: E402
from shared import clock  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import database_of, ensure_database, with_database  # noqa: E402
from shared.devidp import DevIdp, idp_dir  # noqa: E402
from shared.grpc_client import caller_metadata  # noqa: E402
from shared.identity import make_resident_id  # noqa: E402
from shared.pb.crossclear.common.v1 import common_pb2  # noqa: E402
from shared.pb.crossclear.filing.v1 import filing_pb2, filing_pb2_grpc  # noqa: E402
from shared.pb.crossclear.settlement.v1 import settlement_pb2 as pb  # noqa: E402
from shared.pb.crossclear.settlement.v1 import settlement_pb2_grpc  # noqa: E402

INSURED_POOL = "450100"  # Nanning
HOSPITALS = (  # Guangdong hospitals (cross-province, filed) and Nanning ones (local)
    "H44010000001", "H44010000002", "H44010000003", "H44010000004", "H44010000005",
    "H44010000006", "H44030000001", "H44030000002", "H44030000003", "H44040000001",
    "H45010000001", "H45010000002", "H45010000003", "H45010000004", "H45010000005",
    "H45010000006",
)  # fmt: skip
OUTPATIENT_LINES, INPATIENT_LINES = 5, 40
STARTUP_TIMEOUT_S = 90.0
CALL_TIMEOUT_S = 30.0
SEED_CONCURRENCY = 16
PGBENCH_SCALE = 10
PGBENCH_DURATION_S = 20
PGBENCH_CLIENTS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the services ------------------------------------------------------------------------


@dataclass
class Services:
    filing_port: int
    settlement_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(
        self,
        database_url: str,
        namespace: str,
        pool_max: int,
        log: Path,
        profile: Path | None,
        workers: int = 1,
    ) -> None:
        env = {
            **os.environ,
            "CROSSCLEAR_DATABASE_URL": database_url,
            "CROSSCLEAR_INSECURE_DEV": "true",
            "CROSSCLEAR_BUS_NAMESPACE": namespace,
            "CROSSCLEAR_FILING_TARGET": f"127.0.0.1:{self.filing_port}",
            "CROSSCLEAR_SETTLEMENT_TARGET": f"127.0.0.1:{self.settlement_port}",
            "CROSSCLEAR_METRICS_PORT": "0",
            "CROSSCLEAR_LOG_LEVEL": "WARNING",
            "CROSSCLEAR_LOG_FORMAT": "json",
            "CROSSCLEAR_DB_POOL_MAX": str(pool_max),
            # >1: settlement runs as that many worker processes on one port (SO_REUSEPORT).
            "CROSSCLEAR_SETTLEMENT_WORKERS": str(workers),
            # The channels' end users: the development identity provider's, as in `up`.
            "CROSSCLEAR_CHANNEL_IDPS": _dev_idp().channel_idps_env(),
        }
        with log.open("ab") as sink:
            for name in ("filing", "settlement"):
                runner = [sys.executable]
                if name == "settlement" and profile is not None:
                    runner += ["-m", "cProfile", "-o", str(profile)]
                self.procs[name] = subprocess.Popen(
                    [*runner, "-m", "services.cli", "serve", name],
                    cwd=REPO,
                    env=env,
                    stdout=sink,
                    stderr=sink,
                )

    def cpu_s(self) -> dict[str, float]:
        """User + system CPU seconds each service has used so far: its process and the
        live processes under it (the workers of a multi-worker settlement service)."""
        return {name: tree_cpu_s(proc.pid) for name, proc in self.procs.items()}

    @staticmethod
    def postgres_cpu_s() -> float:
        """CPU seconds of every PostgreSQL process of this machine (backends persist: the
        services hold pooled connections for the whole run)."""
        return named_cpu_s("postgres")

    @staticmethod
    def broker_cpu_s() -> float:
        """CPU seconds of the message broker (RabbitMQ's Erlang VM) on this machine."""
        return named_cpu_s("beam.smp")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def named_cpu_s(command: str) -> float:
    """User + system CPU seconds so far of every live process whose command is ``command``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            if f"({command})" in text:
                fields_ = text.rsplit(")", 1)[1].split()
                total += (int(fields_[11]) + int(fields_[12])) / tick
    return total


def machine_ticks() -> dict[str, int]:
    """The machine's CPU time so far, all cores, by state (/proc/stat, in clock ticks)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return {
        "busy": user + nice + system + irq + softirq + steal,
        "idle": idle,
        "iowait": iowait,
    }


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in _process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields_ = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields_[11]) + int(fields_[12])) / tick
    return total


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (from /proc/<pid>/task/<tid>/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                pending.extend(int(child) for child in children.read_text().split())
    return found


async def wait_ready(target: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with grpc.aio.insecure_channel(target) as channel:
        while True:
            try:
                await asyncio.wait_for(channel.channel_ready(), 2)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: {target} did not start") from None


# --- seeding -----------------------------------------------------------------------------


def _dev_idp() -> DevIdp:
    return DevIdp.ensure(idp_dir(Settings().state_dir))


def _person_token(psn_no: str) -> str:
    """The app's token for the person whose filing the benchmark submits."""
    return _dev_idp().token(
        "channel-app", audience=Settings().idp_audience, now=clock.now(), person=psn_no
    )


async def seed_persons(target: str, count: int) -> list[filing_pb2.Person]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = filing_pb2_grpc.FilingServiceStub(channel)
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        async def one(n: int) -> filing_pb2.Person:
            async with gate:
                person = filing_pb2.Person(
                    psn_no=f"{INSURED_POOL}{secrets.token_hex(6).upper()}",
                    name="压测参保人",
                    documents=[
                        common_pb2.IdentityDocument(
                            type=common_pb2.DOCUMENT_TYPE_RESIDENT_ID,
                            number=make_resident_id(
                                INSURED_POOL,
                                date(1950, 1, 1) + timedelta(days=n % 18_000),
                                (n // 18_000) % 1000,
                            ),
                        )
                    ],
                    insured_pool=INSURED_POOL,
                    insutype=common_pb2.INSURANCE_TYPE_EMPLOYEE_BASIC,
                    person_type=common_pb2.PERSON_TYPE_IN_SERVICE,
                    assistance_category=common_pb2.ASSISTANCE_CATEGORY_NONE,
                    acct_balance_fen=300_000,
                )
                stored = await stub.UpsertPerson(
                    filing_pb2.UpsertPersonRequest(person=person),
                    metadata=caller_metadata(INSURED_POOL),
                    timeout=CALL_TIMEOUT_S,
                )
                await stub.SubmitFiling(
                    filing_pb2.SubmitFilingRequest(
                        channel=filing_pb2.CHANNEL_APP,
                        channel_request_id=f"bench-{secrets.token_hex(8)}",
                        psn_no=person.psn_no,
                        category=filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT,
                        destination=filing_pb2.Destination(province_code="44"),
                        start_date=today().isoformat(),
                        commitment_accepted=True,
                    ),
                    metadata=(
                        *caller_metadata("channel-app"),
                        ("authorization", f"Bearer {_person_token(person.psn_no)}"),
                    ),
                    timeout=CALL_TIMEOUT_S,
                )
                return stored.person

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def today() -> date:
    return datetime.now(CHINA_TZ).date()


# --- the simulated hospitals --------------------------------------------------------------


def billable_items() -> dict[str, tuple[list[CatalogueItem], list[CatalogueItem]]]:
    """Per province: (items an outpatient visit may bill, items a stay may bill)."""
    items = {}
    for catalogue in load_catalogues():
        plain = [
            i
            for i in catalogue.items
            if i.reference_price_fen
            and not i.restrictions.chronic_diseases
            and i.restrictions.sex is None
            and i.restrictions.min_age_years is None
            and i.restrictions.max_age_years is None
        ]
        outpatient = [i for i in plain if not i.restrictions.inpatient_only]
        items[catalogue.province_code] = (outpatient, plain)
    return items


_MSGID_BASE = datetime.now(CHINA_TZ) - timedelta(hours=1)
# Load-generator processes number themselves so that their msgids never collide: each
# stamps its messages a day further back (msgids may be old, never in the future).
_PROCESS_DAYS_BACK = [0]
_MSGID_SEQUENCE: dict[str, itertools.count[int]] = defaultdict(itertools.count)


@dataclass
class Stats:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    settlements: int = 0
    flows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    run_s: float = 0.0  # how long the load ran (process start-up excluded)


class SimulatedHospital:
    def __init__(
        self,
        code: str,
        target: str,
        persons: Sequence[filing_pb2.Person],
        items: dict[str, tuple[list[CatalogueItem], list[CatalogueItem]]],
        stats: Stats,
        rng: random.Random,
    ) -> None:
        self.code = code
        self.pool = code[1:7]
        self.province = code[1:3]
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = settlement_pb2_grpc.SettlementServiceStub(self._channel)
        self._metadata = caller_metadata(code)
        self._persons = persons
        self._outpatient_items, self._inpatient_items = items[self.province]
        self._stats = stats
        self._rng = rng
        self._seq = 0

    def _msgid(self) -> str:
        # yyyyMMddHHmmss + 4-digit sequence, one sequence per institution code (several
        # simulated systems may share a code): a new second every 10,000 messages.
        self._seq += 1
        n = next(_MSGID_SEQUENCE[self.code])
        base_s = _MSGID_BASE.timestamp() - 86_400 * _PROCESS_DAYS_BACK[0]
        stamp = datetime.fromtimestamp(base_s + n // 10_000, CHINA_TZ)
        return f"{self.code}{stamp:%Y%m%d%H%M%S}{n % 10_000:04d}"

    def _header(self) -> pb.RequestHeader:
        return pb.RequestHeader(
            msgid=self._msgid(),
            mdtrtarea_admvs=self.pool,
            insuplc_admdvs=INSURED_POOL,
            opter_type=pb.OPERATOR_TYPE_CLERK,
        )

    async def _call(self, method: str, request: Any) -> Any:
        started = time.perf_counter()
        try:
            response = await getattr(self._stub, method)(
                request, metadata=self._metadata, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            self._stats.errors[f"{method} {error.code().name}"] += 1
            raise
        self._stats.latencies_ms[method].append((time.perf_counter() - started) * 1000)
        return response

    def _lines(self, count: int, inpatient: bool) -> list[pb.FeeDetail]:
        pool = self._inpatient_items if inpatient else self._outpatient_items
        chosen = self._rng.sample(pool, count)
        day = today().isoformat()
        lines = []
        for n, item in enumerate(chosen, start=1):
            assert item.reference_price_fen is not None
            quantity_e4 = self._rng.choice((10_000, 10_000, 20_000, 30_000, 5_000))
            lines.append(
                pb.FeeDetail(
                    feedetl_sn=n,
                    med_list_codg=item.code,
                    fee_ocur_time=day,
                    cnt_e4=quantity_e4,
                    pric_fen=item.reference_price_fen,
                    det_item_fee_sumamt_fen=line_amount_fen(item.reference_price_fen, quantity_e4),
                )
            )
        return lines

    async def outpatient(self) -> None:
        person = self._rng.choice(self._persons)
        registered = await self._call(
            "Register",
            pb.RegisterRequest(
                header=self._header(),
                psn_no=person.psn_no,
                insutype=person.insutype,
                med_type=common_pb2.MED_TYPE_ORDINARY_OUTPATIENT,
                begntime=today().isoformat(),
                ipt_otp_no=f"OP{self._seq}",
            ),
        )
        uploaded = await self._call(
            "UploadFeeDetails",
            pb.UploadFeeDetailsRequest(
                header=self._header(),
                mdtrt_id=registered.mdtrt_id,
                psn_no=person.psn_no,
                feedetail=self._lines(OUTPATIENT_LINES, inpatient=False),
            ),
        )
        await self._settle(person, registered.mdtrt_id, uploaded.medfee_sumamt_fen)
        self._stats.flows["outpatient"] += 1

    async def inpatient(self) -> None:
        person = self._rng.choice(self._persons)
        admitted = await self._call(
            "Admit",
            pb.AdmitRequest(
                header=self._header(),
                psn_no=person.psn_no,
                insutype=person.insutype,
                begntime=today().isoformat(),
                ipt_no=f"IP{self._seq}",
            ),
        )
        uploaded = await self._call(
            "UploadFeeDetails",
            pb.UploadFeeDetailsRequest(
                header=self._header(),
                mdtrt_id=admitted.mdtrt_id,
                psn_no=person.psn_no,
                feedetail=self._lines(INPATIENT_LINES, inpatient=True),
            ),
        )
        await self._settle(person, admitted.mdtrt_id, uploaded.medfee_sumamt_fen)
        await self._call(
            "Discharge",
            pb.DischargeRequest(
                header=self._header(),
                mdtrt_id=admitted.mdtrt_id,
                psn_no=person.psn_no,
                endtime=today().isoformat(),
            ),
        )
        self._stats.flows["inpatient"] += 1

    async def _settle(self, person: filing_pb2.Person, mdtrt_id: str, total_fen: int) -> None:
        settled = await self._call(
            "Settle",
            pb.SettleRequest(
                header=self._header(),
                mdtrt_id=mdtrt_id,
                psn_no=person.psn_no,
                acct_used_flag=True,
                medfee_sumamt_fen=total_fen,
            ),
        )
        info = settled.setlinfo
        assert info.fund_pay_sumamt_fen + info.psn_part_amt_fen == total_fen
        self._stats.settlements += 1

    async def close(self) -> None:
        await self._channel.close()

    async def run(self, deadline: float, inpatient_share: float) -> None:
        try:
            while time.monotonic() < deadline:
                flow = self.inpatient if self._rng.random() < inpatient_share else self.outpatient
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await flow()
        finally:
            await self._channel.close()


# --- load generator processes ---------------------------------------------------------------
#
# One Python process drives at most ~one core: the load is spread over several processes
# so that the generator is never the limit, and its CPU is reported beside the services'.


def _load_worker(conf: dict[str, Any]) -> dict[str, Any]:
    """A load-generator process: closed loop (hospitals one flow after another until the
    deadline) or open loop (outpatient flows started at a fixed rate, whatever the answer
    times); returns its figures and CPU seconds."""
    _PROCESS_DAYS_BACK[0] = conf["index"]
    started_cpu = _own_cpu_s()
    started = time.monotonic()
    # The services' event loop (uvloop), so that the generator costs the shared cores less.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        stats = runner.run(_load_async(conf))
    return {
        "run_s": time.monotonic() - started,
        "latencies_ms": dict(stats.latencies_ms),
        "errors": dict(stats.errors),
        "settlements": stats.settlements,
        "flows": dict(stats.flows),
        "cpu_s": _own_cpu_s() - started_cpu,
    }


async def _load_async(conf: dict[str, Any]) -> Stats:
    persons = [filing_pb2.Person.FromString(raw) for raw in conf["persons"]]
    items = billable_items()
    stats = Stats()
    rng = random.Random(conf["seed"])
    hospitals = [
        SimulatedHospital(code, conf["target"], persons, items, stats, random.Random(rng.random()))
        for code in conf["codes"]
    ]
    deadline = time.monotonic() + conf["duration_s"]
    try:
        if conf["rate_per_s"] is None:
            await asyncio.gather(*(h.run(deadline, conf["inpatient_share"]) for h in hospitals))
        else:
            await _open_loop(hospitals, conf["rate_per_s"], deadline)
    finally:
        for h in hospitals:
            await h.close()
    return stats


async def _open_loop(
    hospitals: Sequence[SimulatedHospital], rate_per_s: float, deadline: float
) -> None:
    """Start one outpatient flow every 1/rate seconds (bounded: at most 2,000 in flight)."""
    interval_s = 1.0 / rate_per_s
    next_at = time.monotonic()
    running: set[asyncio.Task[None]] = set()
    turn = itertools.cycle(hospitals)
    while next_at < deadline:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval_s
        if len(running) >= 2_000:
            continue  # the system is far behind: drop the arrival rather than queue forever
        task = asyncio.create_task(_quietly(next(turn).outpatient()))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running, timeout=CALL_TIMEOUT_S * 4)


async def _quietly(flow: Any) -> None:
    with contextlib.suppress(grpc.aio.AioRpcError):
        await flow


async def drive(
    target: str,
    persons: Sequence[filing_pb2.Person],
    hospitals: int,
    processes: int,
    duration_s: float,
    seed: int,
    *,
    inpatient_share: float,
    rate_per_s: float | None,
) -> tuple[Stats, float]:
    """Run the load in ``processes`` processes; merged figures and their CPU seconds."""
    raw = [p.SerializeToString() for p in persons]
    codes = [HOSPITALS[i % len(HOSPITALS)] for i in range(hospitals)]
    confs = [
        {
            "index": i,
            "target": target,
            "persons": raw,
            "codes": codes[i::processes] or codes[:1],
            "seed": seed + i,
            "duration_s": duration_s,
            "inpatient_share": inpatient_share,
            "rate_per_s": None if rate_per_s is None else rate_per_s / processes,
        }
        for i in range(processes)
    ]
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as executor:
        results = await asyncio.gather(
            *(loop.run_in_executor(executor, _load_worker, conf) for conf in confs)
        )
    merged = Stats()
    merged.run_s = max(result["run_s"] for result in results)
    cpu_s = 0.0
    for result in results:
        for method, values in result["latencies_ms"].items():
            merged.latencies_ms[method].extend(values)
        for key, count in result["errors"].items():
            merged.errors[key] += count
        for key, count in result["flows"].items():
            merged.flows[key] += count
        merged.settlements += result["settlements"]
        cpu_s += result["cpu_s"]
    return merged, cpu_s


# --- pgbench -------------------------------------------------------------------------------


def _pgbench_run(conn_args: list[str], env: dict[str, str], name: str) -> str:
    init = ["pgbench", *conn_args, "-i", "-q", "-s", str(PGBENCH_SCALE), name]
    subprocess.run(init, check=True, env=env, capture_output=True)
    load = [
        *("pgbench", *conn_args, "-b", "tpcb-like", "-T", str(PGBENCH_DURATION_S)),
        *("-c", str(PGBENCH_CLIENTS), "-j", "2", name),
    ]
    return subprocess.run(load, check=True, env=env, capture_output=True, text=True).stdout


async def pgbench(base_url: str) -> dict[str, str]:
    """pgbench's TPC-B-like run on a scratch database of the same server."""
    if shutil.which("pgbench") is None:
        return {"error": "pgbench is not installed"}
    parts = urlsplit(base_url)
    name = f"crossclear_pgbench_{secrets.token_hex(4)}"
    conn_args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    conn_args += ["-U", parts.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    await ensure_database(with_database(base_url, name))
    try:
        out = await asyncio.to_thread(_pgbench_run, conn_args, env, name)
    finally:
        await drop_database(with_database(base_url, name))
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "tps": tps.group(1) if tps else "?",
        "latency_avg_ms": latency.group(1) if latency else "?",
        "command": f"pgbench -b tpcb-like -T {PGBENCH_DURATION_S} -c {PGBENCH_CLIENTS} -j 2 "
        f"(scale {PGBENCH_SCALE})",
    }


# --- a private cluster: PostgreSQL's CPU and statements of this run alone ---------------------

STATEMENTS_SHOWN = 12
_OWN_CLUSTER_CONF = (
    "shared_preload_libraries = 'pg_stat_statements'\n"
    "pg_stat_statements.track = top\n"  # a statement's triggers count inside it
    "pg_stat_statements.max = 1000\n"
    "pg_stat_statements.track_planning = on\n"  # planning time per statement, apart
)


def own_cluster() -> Any:
    """A private PostgreSQL cluster of this machine's packages (scripts/chaos.py's: its own
    port and folders, removed at the end) with pg_stat_statements loaded."""
    import chaos  # the same folder; imported here because it imports this module

    cluster = chaos.PrivatePostgres.choose(f"{chaos.CLUSTER_PREFIX}{os.getpid()}")
    cluster.create(extra_conf=_OWN_CLUSTER_CONF)
    return cluster


async def reset_statements(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def top_statements(url: str) -> list[dict[str, Any]]:
    """The statements that took the most execution time since the reset (every database
    of the cluster: the settlement and filing schemas' statements both)."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            """SELECT calls, total_exec_time, rows, plans, total_plan_time,
                      100 * total_exec_time / nullif(sum(total_exec_time) OVER (), 0) AS share,
                      regexp_replace(query, '\\s+', ' ', 'g') AS query
                 FROM pg_stat_statements
                WHERE query NOT ILIKE '%pg_stat_statements%'
                ORDER BY total_exec_time DESC LIMIT $1""",
            STATEMENTS_SHOWN,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


# --- the run ---------------------------------------------------------------------------------


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(with_database(url, "postgres"), timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(url)}" WITH (FORCE)')
    finally:
        await admin.close()


async def check_database(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute('SET search_path TO "settlement", public')
        return dict(
            await conn.fetchrow(
                """SELECT (SELECT count(*) FROM settlements) AS settlements,
                          (SELECT count(*) FROM outbox) AS events,
                          (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL) AS published,
                          (SELECT coalesce(sum(hifp_outpatient_paid_fen + hifp_basic_paid_fen), 0)
                             FROM accumulations) AS acc_hifp_fen,
                          (SELECT coalesce(sum((fund_pay_fen->>'hifp')::bigint), 0)
                             FROM settlements) AS setl_hifp_fen"""
            )
            or {}
        )
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    cluster = own_cluster() if args.own_cluster else None
    try:
        await _run(args, cluster)
    finally:
        if cluster is not None:
            cluster.drop()


async def _run(args: argparse.Namespace, cluster: Any) -> None:
    base = Settings()
    if cluster is not None:
        base = base.model_copy(update={"database_url": cluster.url})
        print(f"bench: private PostgreSQL cluster {cluster.name} on port {cluster.port}")
    postgres_cpu_s = cluster.cpu_s if cluster is not None else Services.postgres_cpu_s
    broker_cpu_s = Services.broker_cpu_s
    token = secrets.token_hex(4)
    url = with_database(base.database_url, f"crossclear_bench_{token}")
    await ensure_database(url)
    services = Services(free_port(), free_port())
    log = Path(args.log)
    services.start(
        url, f"ccbench-{token}", args.db_pool_max, log, args.profile_settlement,
        args.settlement_workers,
    )  # fmt: skip
    print(f"bench: services' log in {log}", flush=True)
    report: dict[str, Any] = {}
    target = ""
    try:
        await wait_ready(f"127.0.0.1:{services.filing_port}")
        await wait_ready(f"127.0.0.1:{services.settlement_port}")
        target = f"127.0.0.1:{services.settlement_port}"
        print(f"bench: services up; seeding {args.persons} persons", flush=True)
        persons = await seed_persons(f"127.0.0.1:{services.filing_port}", args.persons)
        print(
            f"bench: saturation: {args.hospitals} hospitals in {args.load_procs} load processes"
            f" for {args.duration_s} s",
            flush=True,
        )
        if cluster is not None:
            await reset_statements(url)
        before = services.cpu_s() | {"postgres": postgres_cpu_s(), "broker": broker_cpu_s()}
        machine_before = machine_ticks()
        started = time.monotonic()
        stats, load_cpu_s = await drive(
            target, persons, args.hospitals, args.load_procs, args.duration_s, args.seed,
            inpatient_share=args.inpatient_share, rate_per_s=None,
        )  # fmt: skip
        elapsed_s = stats.run_s or (time.monotonic() - started)
        after = services.cpu_s() | {"postgres": postgres_cpu_s(), "broker": broker_cpu_s()}
        machine_after = machine_ticks()
        cpu_s = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
        cpu_s["load generator"] = load_cpu_s
        report = {
            "elapsed_s": elapsed_s,
            "stats": stats,
            "cpu_s": cpu_s,
            "machine": {k: machine_after[k] - machine_before[k] for k in machine_after},
        }
        if cluster is not None:
            report["statements"] = await top_statements(url)
        if args.open_duration_s > 0 and stats.settlements:
            rate = args.open_rate or 0.5 * stats.settlements / elapsed_s
            print(f"bench: open loop at {rate:.1f} settlements/s for {args.open_duration_s} s")
            before = services.cpu_s() | {"postgres": postgres_cpu_s()}
            half, _ = await drive(
                target, persons, args.hospitals, args.load_procs, args.open_duration_s,
                args.seed + 1_000, inpatient_share=0.0, rate_per_s=rate,
            )  # fmt: skip
            after = services.cpu_s() | {"postgres": postgres_cpu_s()}
            report["open_loop"] = {
                "rate_per_s": rate,
                "stats": half,
                "cpu_s": {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after},
            }
        await asyncio.sleep(2)  # let the relay drain
        report["database"] = await check_database(url)
    finally:
        services.stop()
        # The run's quorum queues would otherwise stay on the broker after every run.
        with contextlib.suppress(Exception):
            await reset_namespace(base.model_copy(update={"bus_namespace": f"ccbench-{token}"}))
        if not args.keep:
            await drop_database(url)
    report["pgbench"] = await pgbench(base.database_url) if not args.skip_pgbench else {}
    print_report(args, report)


def _tps(pgbench_report: dict[str, str]) -> float | None:
    try:
        return float(pgbench_report.get("tps", ""))
    except ValueError:
        return None


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    stats: Stats = report["stats"]
    elapsed_s = report["elapsed_s"]
    rate = stats.settlements / elapsed_s
    print()
    print(
        f"## {args.hospitals} hospitals in {args.load_procs} load processes, {elapsed_s:.1f} s,"
        f" {args.persons} persons, inpatient share {args.inpatient_share:.0%},"
        f" db pool {args.db_pool_max}, settlement workers {args.settlement_workers}"
    )
    print()
    print(f"- settlements/s at saturation: **{rate:.1f}** ({stats.settlements} settlements)")
    flows = ", ".join(f"{k} {v} ({v / elapsed_s:.1f}/s)" for k, v in sorted(stats.flows.items()))
    print(f"- flows: {flows}")
    print(f"- errors: {dict(stats.errors) or 'none'}")
    tps = _tps(report["pgbench"])
    if tps:
        print(
            f"- pgbench ({report['pgbench']['command']}): {tps:.0f} tps;"
            f" ratio settlements/s ÷ tps = **{rate / tps:.3f}**"
        )
    settle = stats.latencies_ms.get("Settle") or [0.0]
    print(
        f"- Settle at saturation: p50 {statistics.median(settle):.1f} ms,"
        f" p99 {percentile(settle, 0.99):.1f} ms"
    )
    open_loop = report.get("open_loop")
    if open_loop:
        half: Stats = open_loop["stats"]
        values = half.latencies_ms.get("Settle") or [0.0]
        print(
            f"- Settle at {'a fixed rate' if args.open_rate else 'half the saturation rate'}"
            f" (open loop, {open_loop['rate_per_s']:.1f}/s):"
            f" p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms,"
            f" errors {dict(half.errors) or 'none'}"
        )
        # The same flows at a fixed rate, out of saturation: less queueing and core
        # sharing in the CPU per operation, and every person's year row exists by then.
        half_rpcs = sum(len(v) for v in half.latencies_ms.values())
        cpu = open_loop["cpu_s"]
        if half_rpcs and half.settlements:
            print(
                f"  - CPU at that rate (outpatient flows only): settlement"
                f" {1000 * cpu.get('settlement', 0.0) / half_rpcs:.2f} ms per RPC,"
                f" postgres {1000 * cpu.get('postgres', 0.0) / half.settlements:.2f} ms and"
                f" filing {1000 * cpu.get('filing', 0.0) / half.settlements:.2f} ms"
                f" per settlement"
            )
    where = (
        "this run's own cluster" if args.own_cluster else "every postgres process of the machine"
    )
    print(
        f"- CPU during the saturation phase (100 % = one of {os.cpu_count()} cores; postgres: {where}):"
    )
    for name, seconds in sorted(report["cpu_s"].items()):
        per = 1000 * seconds / max(1, stats.settlements)
        print(f"  - {name}: {100 * seconds / elapsed_s:.0f} %, {per:.2f} ms per settlement")
    machine = report.get("machine") or {}
    if sum(machine.values()):
        cores = os.cpu_count() or 1
        share = {k: 100 * cores * v / sum(machine.values()) for k, v in machine.items()}
        print(
            f"  - the whole machine: {share['busy']:.0f} % busy, {share['idle']:.0f} % idle,"
            f" {share['iowait']:.0f} % idle waiting for the disk (of {100 * cores} %)"
        )
    settle_calls = len(stats.latencies_ms.get("Settle", []))
    rpcs = sum(len(v) for v in stats.latencies_ms.values())
    if rpcs:
        per_rpc = 1000 * report["cpu_s"].get("settlement", 0.0) / rpcs
        print(
            f"  - settlement process per RPC (all {rpcs} RPCs, {settle_calls} Settle): {per_rpc:.2f} ms"
        )
    db = report.get("database", {})
    print(
        f"- database after the run: {db.get('settlements')} settlements, {db.get('events')}"
        f" outbox events ({db.get('published')} published); hifp in settlements"
        f" {db.get('setl_hifp_fen')} fen = in accumulations {db.get('acc_hifp_fen')} fen"
    )
    statements = report.get("statements")
    if statements:
        print()
        print(
            f"Top statements at saturation (pg_stat_statements, {stats.settlements} settlements):"
        )
        print()
        print(
            "| share | calls | per settlement | mean ms | plans/call | plan ms | rows/call"
            " | statement |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in statements:
            calls = max(1, r["calls"])
            text = r["query"][:90].replace("|", "\\|")
            print(
                f"| {r['share'] or 0:.1f} % | {r['calls']} | {r['calls'] / max(1, stats.settlements):.2f} |"
                f" {r['total_exec_time'] / calls:.3f} | {r['plans'] / calls:.2f} |"
                f" {r['total_plan_time'] / max(1, r['plans']):.3f} | {r['rows'] / calls:.1f}"
                f" | `{text}` |"
            )
    print()
    print("| RPC | calls | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for method in ("Register", "Admit", "UploadFeeDetails", "Settle", "Discharge"):
        latencies = stats.latencies_ms.get(method)
        if latencies:
            print(
                f"| {method} | {len(latencies)} | {statistics.median(latencies):.1f} |"
                f" {percentile(latencies, 0.99):.1f} | {max(latencies):.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hospitals", type=int, default=16, help="concurrent simulated HIS")
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument(
        "--load-procs", type=int, default=2, help="load-generator processes (spawned)"
    )
    parser.add_argument(
        "--open-duration-s", type=float, default=30.0, help="open loop at half rate; 0 = skip"
    )
    parser.add_argument(
        "--open-rate",
        type=float,
        help="the open loop's settlements/s (default: half the saturation rate); a fixed"
        " rate compares two versions at the same load",
    )
    parser.add_argument("--persons", type=int, default=400)
    parser.add_argument("--inpatient-share", type=float, default=0.25)
    parser.add_argument("--db-pool-max", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20260315)
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="run on a private PostgreSQL cluster (pg_createcluster; needs root) with"
        " pg_stat_statements: PostgreSQL's CPU is that cluster's alone, and the statements"
        " that cost most are printed",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--log", default="/tmp/bench_settlement_services.log")
    parser.add_argument(
        "--profile-settlement", type=Path, help="run the settlement process under cProfile"
    )
    parser.add_argument(
        "--settlement-workers",
        type=int,
        default=1,
        help="settlement worker processes sharing its port (CROSSCLEAR_SETTLEMENT_WORKERS)",
    )
    args = parser.parse_args()
    assert 1 <= args.settlement_workers <= 16
    assert args.settlement_workers == 1 or args.profile_settlement is None, "profile 1 worker"
    assert 1 <= args.hospitals <= 1_000 and 1 <= args.duration_s <= 3_600
    assert 1 <= args.persons <= 100_000 and 0 <= args.inpatient_share <= 1
    assert args.open_rate is None or 0 < args.open_rate <= 10_000
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
