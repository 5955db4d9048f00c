"""The operator's month-end through ``crossclear clearing …``, run as separate processes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.clearing.domain.exports import csv_field_name
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
    html_text = (out / f"{national}.html").read_text(encoding="utf-8")
    assert "南宁" in html_text and "1,230.00" in html_text and "hifp 统筹基金" in html_text
    tables = ("summary", "funds", "institutions", "lines", "adjustments")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{s.statement_id}.{t}.csv" for s in statements.statements for t in tables]
        + [f"{s.statement_id}.html" for s in statements.statements]
    )

    # Read as Excel on Chinese Windows reads a CSV: UTF-8 only if it starts with the BOM.
    summary_header, summary = _excel_table(out / f"{national}.summary.csv")
    assert "参保地名称(insured_pool_name)" in summary_header
    assert [(r["insured_pool_name"], r["treatment_pool_name"]) for r in summary] == [
        ("南宁市", "广州市")
    ]
    assert (summary[0]["net_yuan"], summary[0]["net_fen"]) == ("1230.00", "123000")
    _, funds = _excel_table(out / f"{national}.funds.csv")
    by_fund = {r["fund"]: r for r in funds}
    assert (by_fund["hifp"]["fund_name"], by_fund["hifp"]["net_yuan"]) == ("统筹基金", "1200.00")
    assert (by_fund["acct"]["fund_name"], by_fund["acct"]["net_yuan"]) == ("个人账户", "30.00")
    assert by_fund["TOTAL"]["net_yuan"] == "1230.00"
    _, kinds = _excel_table(out / f"{national}.institutions.csv")
    assert [(r["institution_kind"], r["settlement_count"], r["net_fen"]) for r in kinds] == [
        ("HOSPITAL", "1", "123000"),
        ("PHARMACY", "0", "0"),
        ("TOTAL", "1", "123000"),
    ]
    _, lines = _excel_table(out / f"{national}.lines.csv")
    assert [(r["setl_id"], r["hifp_yuan"], r["acct_yuan"], r["total_yuan"]) for r in lines] == [
        (f"C{unique}1", "1200.00", "30.00", "1230.00")
    ]
    _, adjustments = _excel_table(out / f"{national}.adjustments.csv")
    assert adjustments == []
    for s in statements.statements:
        _, (row,) = _excel_table(out / f"{s.statement_id}.summary.csv")
        _, lines = _excel_table(out / f"{s.statement_id}.lines.csv")
        total = sum(int(Decimal(r["total_yuan"]) * 100) for r in lines)
        assert total == int(row["net_fen"]) == s.net_fen


def _excel_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """One CSV file decoded as Excel would (BOM → UTF-8, else GBK), as one table."""
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), path.name
    text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("gbk")
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert all(len(row) == len(header) for row in rows), path.name
    fields = [csv_field_name(h) for h in header]
    return header, [dict(zip(fields, row, strict=True)) for row in rows]
