"""Month-end benchmark: statement generation for a large period, and the clearing process's memory.

    .venv/bin/python scripts/bench_month_end.py [--entries 3000000] [--source-root DIR]

What it does, in order:

1. creates a scratch database (``crossclear_bench_monthend`` by default, dropped first if
   a previous run left it) and migrates the clearing schema into it;
2. bulk-loads ``--entries`` ledger entries for one period with COPY: settlements (about
   2.4 cleared funds each) and reversals across ~10,000 pool pairs whose volumes follow a
   Zipf law (the busiest pair carries about a tenth of the period), the 36 Guangxi and
   Guangdong pools plus four pools in each other province; 1 % of the events arrived late
   from the previous period;
3. starts the clearing service as a separate process (``crossclear serve clearing``, in
   insecure development mode, its own bus namespace), from this checkout or from
   ``--source-root`` (another checkout, e.g. the code before a change, for comparison);
4. calls ClosePeriod and GenerateStatements (and GenerateStatements again, which must be
   byte-identical) over gRPC as an operator — the path ``crossclear clearing close|generate``
   takes — and times each call;
5. reads the service process's peak resident set (VmHWM in /proc/<pid>/status) and its
   resident set before the run, stops it, and drops the database and the bus namespace.

Nothing here is a test: it measures. The numbers are in docs/month_end_memory.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.clearing.domain.periods import SHANGHAI, Period  # noqa: E402
from services.clearing.domain.pools import clearing_level  # noqa: E402
from services.simulation.stack import reset_namespace  # noqa: E402
from shared.clock import SYSTEM  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import migrate_service, with_database  # noqa: E402
from shared.grpc_client import caller_metadata  # noqa: E402
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb  # noqa: E402
from shared.pb.crossclear.clearing.v1 import clearing_pb2_grpc  # noqa: E402
from shared.reference import pools, provinces  # noqa: E402

DEFAULT_DB = "crossclear_bench_monthend"
OPERATOR = "op-bench"
STARTUP_TIMEOUT_S = 90.0
STEP_TIMEOUT_S = 3_600.0
OTHER_PROVINCE_POOLS = ("0100", "0200", "0300", "0400")
ZIPF_EXPONENT = 1.0
REVERSAL_SHARE = 0.02
LATE_SHARE = 0.01
# (fund, share of events using it): about 2.4 cleared funds per event.
FUND_SHARES = (
    ("hifp", 1.00),
    ("hifob", 0.35),
    ("hifmi", 0.25),
    ("cvlserv", 0.10),
    ("maf", 0.10),
    ("acct", 0.60),
)
HOSPITALS_PER_POOL = 20
LEDGER_COLUMNS = [
    "period",
    "event_period",
    "late",
    "event_id",
    "setl_id",
    "kind",
    "reversed_setl_id",
    "insured_pool",
    "treatment_pool",
    "level",
    "hospital_code",
    "fund",
    "amount_fen",
    "settle_time",
    "recorded_at",
]


@dataclass
class Loaded:
    entries: int
    events: int
    pairs: int
    busiest_pair: tuple[str, str]
    busiest_entries: int
    seconds: float


def _pool_codes() -> list[str]:
    codes = [p.code for p in pools()]
    known = {c[:2] for c in codes}
    for province in provinces():
        if province.code not in known:
            codes += [f"{province.code}{suffix}" for suffix in OTHER_PROVINCE_POOLS]
    return sorted(codes)


def _pairs(rng: random.Random) -> list[tuple[str, str]]:
    """Every ordered pair with a Guangxi or Guangdong side, busiest first (shuffled, then
    pairs inside the two provinces and with the GBA ahead of the rest)."""
    codes = _pool_codes()
    home = {"44", "45"}
    pairs = [(i, t) for i in codes for t in codes if i != t and (i[:2] in home or t[:2] in home)]
    rng.shuffle(pairs)
    pairs.sort(key=lambda p: (p[0][:2] not in home) + (p[1][:2] not in home))
    return pairs


def _records(
    period: Period, entries: int, seed: int, stats: dict[str, Any]
) -> Iterator[tuple[Any, ...]]:
    """The ledger rows, generated lazily (COPY consumes them as they come)."""
    rng = random.Random(seed)
    pairs = _pairs(rng)
    weights = [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(pairs) + 1)]
    cum_weights = list(itertools.accumulate(weights))
    previous = period.previous()
    start = datetime(period.year, period.month, 1, tzinfo=SHANGHAI)
    next_start = datetime(period.next().year, period.next().month, 1, tzinfo=SHANGHAI)
    month_s = int((next_start - start).total_seconds())
    prev_start = datetime(previous.year, previous.month, 1, tzinfo=SHANGHAI)
    per_pair: dict[tuple[str, str], int] = {}
    written = 0
    event_no = 0
    batch = 10_000
    while written < entries:
        chosen = rng.choices(pairs, cum_weights=cum_weights, k=batch)
        for insured, treatment in chosen:
            if written >= entries:
                break
            event_no += 1
            funds = [f for f, share in FUND_SHARES if rng.random() < share]
            funds = funds[: entries - written]
            late = rng.random() < LATE_SHARE
            reversal = rng.random() < REVERSAL_SHARE
            sign = -1 if reversal else 1
            if late:
                event_period = previous
                settle_time = prev_start + timedelta(seconds=rng.randrange(month_s - 86_400))
            else:
                event_period = period
                settle_time = start + timedelta(seconds=rng.randrange(month_s))
            level = clearing_level(insured, treatment)
            assert level is not None
            hospital = f"H{treatment}{rng.randrange(1, HOSPITALS_PER_POOL + 1):05d}"
            setl_id = f"{'R' if reversal else 'S'}{event_period}{event_no:010d}"
            reversed_setl_id = f"S{event_period}{rng.randrange(1, event_no + 1):010d}"
            event_id = f"{rng.getrandbits(128):032x}"
            for fund in funds:
                amount = rng.randint(50, 800_000) if fund == "hifp" else rng.randint(10, 90_000)
                yield (
                    str(period),
                    str(event_period),
                    late,
                    event_id,
                    setl_id,
                    "REVERSED" if reversal else "SETTLED",
                    reversed_setl_id if reversal else None,
                    insured,
                    treatment,
                    level.value,
                    hospital,
                    fund,
                    sign * amount,
                    settle_time,
                    settle_time,  # recorded_at: as ingestion would, at about that time
                )
            written += len(funds)
            per_pair[(insured, treatment)] = per_pair.get((insured, treatment), 0) + len(funds)
    busiest = max(per_pair, key=lambda p: per_pair[p])
    stats.update(
        events=event_no, pairs=len(per_pair), busiest=busiest, busiest_entries=per_pair[busiest]
    )


async def load(url: str, period: Period, entries: int, seed: int) -> Loaded:
    started = time.perf_counter()
    await migrate_service(url, "clearing")
    conn = await asyncpg.connect(url, server_settings={"search_path": "clearing"})
    try:
        await conn.execute(
            "INSERT INTO periods (period, created_at) VALUES ($1, $3), ($2, $3)",
            str(period.previous()),
            str(period),
            SYSTEM.now(),
        )
        stats: dict[str, Any] = {}
        await conn.copy_records_to_table(
            "ledger",
            columns=LEDGER_COLUMNS,
            records=_records(period, entries, seed, stats),
            schema_name="clearing",
            timeout=STEP_TIMEOUT_S,
        )
        # As autovacuum would have done by month end: statistics and the visibility map.
        await conn.execute("VACUUM ANALYZE clearing.ledger", timeout=STEP_TIMEOUT_S)
        count = await conn.fetchval("SELECT count(*) FROM clearing.ledger")
    finally:
        await conn.close()
    return Loaded(
        entries=count,
        events=stats["events"],
        pairs=stats["pairs"],
        busiest_pair=stats["busiest"],
        busiest_entries=stats["busiest_entries"],
        seconds=time.perf_counter() - started,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def start_service(
    source_root: Path, url: str, namespace: str, port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CROSSCLEAR_DATABASE_URL": url,
        "CROSSCLEAR_BUS_NAMESPACE": namespace,
        "CROSSCLEAR_INSECURE_DEV": "true",
        "CROSSCLEAR_GRPC_LISTEN": f"127.0.0.1:{port}",
        "CROSSCLEAR_CLEARING_TARGET": f"127.0.0.1:{port}",
        "CROSSCLEAR_METRICS_PORT": "0",
        "CROSSCLEAR_LOG_LEVEL": "WARNING",
        "CROSSCLEAR_LOG_FORMAT": "json",
        "CROSSCLEAR_CLEARING_RUN_STEP_TIMEOUT_S": str(int(STEP_TIMEOUT_S)),
        # A month-end call may outlast the default connection age (300 s + 30 s grace),
        # after which the server ends the call's connection.
        "CROSSCLEAR_GRPC_MAX_CONNECTION_AGE_S": str(int(STEP_TIMEOUT_S)),
        "PYTHONPATH": str(source_root),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "clearing"], cwd=source_root, env=env
    )


async def _wait_serving(stub: Any, proc: subprocess.Popen[bytes]) -> None:
    from grpc_health.v1 import health_pb2

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the clearing service exited with code {proc.returncode}")
        with contextlib.suppress(grpc.aio.AioRpcError):
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        await asyncio.sleep(0.5)
    raise RuntimeError("the clearing service did not become SERVING")


@dataclass
class Step:
    name: str
    seconds: float
    detail: str


async def run_month_end(
    port: int, period: Period, proc: subprocess.Popen[bytes], regenerate: bool
) -> list[Step]:
    from grpc_health.v1 import health_pb2_grpc

    steps = []
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = clearing_pb2_grpc.ClearingServiceStub(channel)
        metadata = caller_metadata(OPERATOR)
        await _wait_serving(health_pb2_grpc.HealthStub(channel), proc)
        rss = _mib(_status_kib(proc.pid, "VmRSS"))
        steps.append(Step("serving", 0.0, f"resident set {rss}"))
        started = time.perf_counter()
        closed = await stub.ClosePeriod(
            pb.ClosePeriodRequest(period=str(period)), metadata=metadata, timeout=STEP_TIMEOUT_S
        )
        steps.append(
            Step(
                "ClosePeriod",
                time.perf_counter() - started,
                f"{closed.period.ledger_entry_count} entries, {closed.period.event_count} events",
            )
        )
        for name in ("GenerateStatements", "GenerateStatements again")[: 2 if regenerate else 1]:
            started = time.perf_counter()
            reply = await stub.GenerateStatements(
                pb.GenerateStatementsRequest(period=str(period)),
                metadata=metadata,
                timeout=STEP_TIMEOUT_S,
            )
            steps.append(
                Step(
                    name,
                    time.perf_counter() - started,
                    f"{reply.statement_count} statements, {reply.changed_count} changed, "
                    f"digest {reply.period.statements_digest}",
                )
            )
    return steps


async def largest_statement(url: str, period: Period) -> tuple[str, int, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT statement_id, line_count, length(canonical) AS size FROM clearing.statements "
            "WHERE period = $1 ORDER BY line_count DESC LIMIT 1",
            str(period),
        )
    finally:
        await conn.close()
    assert row is not None
    return row["statement_id"], row["line_count"], row["size"]


async def drop_database(url: str, name: str) -> None:
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


async def main(args: argparse.Namespace) -> int:
    base_url = os.environ.get(
        "CROSSCLEAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crossclear"
    )
    amqp_url = os.environ.get("CROSSCLEAR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    url = with_database(base_url, args.database)
    period = Period.parse(args.period)
    namespace = f"ccbench-{secrets.token_hex(4)}"
    source_root: Path = args.source_root
    print(f"source: {source_root}")
    print(f"database: {args.database}, bus namespace: {namespace}, period: {period}")
    await drop_database(url, args.database)
    proc: subprocess.Popen[bytes] | None = None
    try:
        loaded = await load(url, period, args.entries, args.seed)
        print(
            f"loaded {loaded.entries:,} ledger entries ({loaded.events:,} events, "
            f"{loaded.pairs:,} pool pairs; busiest {loaded.busiest_pair[0]}→"
            f"{loaded.busiest_pair[1]} with {loaded.busiest_entries:,} entries) "
            f"in {loaded.seconds:.0f} s"
        )
        port = _free_port()
        proc = start_service(source_root, url, namespace, port)
        wall = time.perf_counter()
        steps = await run_month_end(port, period, proc, args.regenerate)
        wall = time.perf_counter() - wall
        peak_kib = _status_kib(proc.pid, "VmHWM")
        for step in steps:
            print(f"  {step.name:<26} {step.seconds:8.1f} s  {step.detail}")
        statement_id, lines, size = await largest_statement(url, period)
        print(
            f"largest statement: {statement_id}, {lines:,} lines, {size / 2**20:.1f} MiB canonical"
        )
        print(f"wall time (start of service to last step): {wall:.1f} s")
        print(f"clearing process peak RSS (VmHWM): {_mib(peak_kib)}")
        return 0 if peak_kib < 1024 * 1024 else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not args.keep:
            await drop_database(url, args.database)
            await reset_namespace(Settings(amqp_url=amqp_url, bus_namespace=namespace))
            print(f"dropped {args.database} and bus namespace {namespace}")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=3_000_000)
    parser.add_argument("--period", default="202503")
    parser.add_argument("--seed", type=int, default=20250331)
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument(
        "--source-root",
        type=lambda text: Path(text).resolve(),
        default=REPO,
        help="checkout whose clearing service is measured (default: this one)",
    )
    parser.add_argument(
        "--no-regenerate",
        dest="regenerate",
        action="store_false",
        help="generate once (default: twice, the second must change nothing)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parse(sys.argv[1:]))))
