"""The operator's month-end through ``crossclear clearing …``, run as separate processes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg

from shared.bus import Bus
from shared.config import Settings
from shared.pb.crossclear.clearing.v1 import clearing_pb2 as pb

from .conftest import Client
from .support import publish, settlement, wait_ingested

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PERIOD = "201004"
NANNING, LIUZHOU, GUANGZHOU = "450100", "450200", "440100"


async def _cli(settings: Settings, port: int, *args: str) -> str:
    env = {
        **os.environ,
        "CROSSCLEAR_CLEARING_TARGET": f"127.0.0.1:{port}",
        "CROSSCLEAR_DATABASE_URL": settings.database_url,
        "CROSSCLEAR_LOG_FORMAT": "json",
    }
    env.pop("CROSSCLEAR_TLS_DIR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "clearing",
        *args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode()
    assert process.returncode == 0, text
    return text


async def test_operator_runs_the_month_end_from_the_command_line(
    settings: Settings,
    clearing_port: int,
    as_caller: Callable[[str], Client],
    publisher: Bus,
    namespace: str,
    db: asyncpg.Pool,
    unique: str,
    tmp_path: Path,
) -> None:
    events = [
        settlement(f"C{unique}1", NANNING, GUANGZHOU, PERIOD, hifp=120_000, acct=3_000),
        settlement(f"C{unique}2", GUANGZHOU, LIUZHOU, PERIOD, hifp=20_000),
        settlement(f"C{unique}3", LIUZHOU, NANNING, PERIOD, hifp=7_500),
    ]
    await publish(publisher, namespace, events)
    await wait_ingested(db, events)

    ran = await _cli(settings, clearing_port, "run", PERIOD)
    assert "DELIVERED" in ran and "delivered 3 statements" in ran

    statements = await as_caller("op-cli").ListStatements(pb.ListStatementsRequest(period=PERIOD))
    for s in statements.statements:
        for pool in (s.insured_pool, s.treatment_pool):
            await as_caller(pool).ConfirmStatement(
                pb.ConfirmStatementRequest(statement_id=s.statement_id)
            )
    netted = await _cli(settings, clearing_port, "net", PERIOD)
    assert "NETTED" in netted and "net positions NATIONAL" in netted
    paid = await _cli(settings, clearing_port, "pay", PERIOD, "--reference", f"BANK{unique}")
    assert f"period {PERIOD}: SETTLED" in paid
    status = await _cli(settings, clearing_port, "status", PERIOD)
    assert "SETTLED" in status

    out = tmp_path / "statements"
    exported = await _cli(settings, clearing_port, "export", PERIOD, "--out", str(out))
    assert f"exported 3 statements of {PERIOD}" in exported
    national = f"{PERIOD}-{NANNING}-{GUANGZHOU}"
    csv_text = (out / f"{national}.csv").read_text(encoding="utf-8")
    html_text = (out / f"{national}.html").read_text(encoding="utf-8")
    assert national in csv_text and "123000" in csv_text
    assert "南宁" in html_text and "1,230.00" in html_text
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s.statement_id}.{ext}" for s in statements.statements for ext in ("csv", "html")
    )
