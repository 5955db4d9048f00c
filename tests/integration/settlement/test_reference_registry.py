"""An operator loads institutions into the registry with the command; the running
settlement service settles at the new hospital with its level the next moment, and a bad
file writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import grpc

from shared.config import Settings
from shared.grpc_client import caller_metadata
from shared.pb.crossclear.filing.v1 import filing_pb2
from shared.pb.crossclear.reference.v1 import reference_pb2 as rpb
from shared.pb.crossclear.reference.v1 import reference_pb2_grpc
from tests.support.polling import wait_until

from .support import ECHOCARDIOGRAM, NANNING, Filing, Hospital, fee, today

SHENZHEN = "440300"
NEW_LEVEL_2 = "H45010000090"  # not in the shipped sample
PICKUP_WAIT_S = 10.0
HEADER = "code,name_zh,pool_code,kind,level,designated_from,designated_until\n"


def load_institutions(settings: Settings, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSCLEAR_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "settlement", "load-institutions", str(path),
         "--effective", today().isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


async def rows(db: asyncpg.Pool) -> int:
    async with db.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM institution_versions"))


async def test_a_new_level_2_hospital_settles_at_level_2_the_next_moment(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
    settlement_channel: grpc.aio.Channel,
    settings: Settings,
    tmp_path: Path,
) -> None:
    file = tmp_path / "new.csv"
    file.write_text(HEADER + f"{NEW_LEVEL_2},南宁市测试二级医院,450100,HOSPITAL,2,,\n", "utf-8")
    before = await rows(settlement_db)
    done = load_institutions(settings, file)
    assert done.returncode == 0, done.stderr
    assert "1 loaded" in done.stdout
    assert await rows(settlement_db) == before + 1
    again = load_institutions(settings, file)  # the same file again: nothing new
    assert again.returncode == 0 and "0 loaded, 1 already loaded" in again.stdout

    # The running service hears of it (NOTIFY) and answers 1201 with it.
    reference = reference_pb2_grpc.ReferenceServiceStub(settlement_channel)

    async def picked_up() -> rpb.QueryInstitutionsResponse | None:
        found = await reference.QueryInstitutions(
            rpb.QueryInstitutionsRequest(fixmedins_code=NEW_LEVEL_2),
            metadata=caller_metadata("H45010000001"),
        )
        return found if found.institutions else None

    found = await wait_until(picked_up, timeout_s=PICKUP_WAIT_S, what="new hospital")
    assert found.institutions[0].hosp_lv == 2
    assert found.institutions[0].fixmedins_type == rpb.INSTITUTION_KIND_HOSPITAL

    # A Shenzhen employee living in Nanning (long-term filing), 8,000 yuan of class-A
    # inpatient care: GD_GBA employees at level 2 pay a 400-yuan deductible, then 88 %.
    person = await filing.new_person(SHENZHEN)
    await filing.file(
        person, category=filing_pb2.FILING_CATEGORY_LONG_TERM_RESIDENT, pool_code=NANNING
    )
    h = hospital(NEW_LEVEL_2)
    admitted = await h.admit(person)
    uploaded = await h.upload(
        person, admitted.mdtrt_id, [fee(1, ECHOCARDIOGRAM, "45", quantity_e4=400_000)]
    )
    assert uploaded.medfee_sumamt_fen == 800_000
    await h.discharge(person, admitted.mdtrt_id)
    info = (await h.settle(person, admitted.mdtrt_id, 800_000)).setlinfo
    assert info.hifp_pay_fen == 668_800
    assert info.psn_cash_pay_fen == 131_200
    async with settlement_db.acquire() as conn:
        level = await conn.fetchval(
            "SELECT hospital_level FROM encounters WHERE mdtrt_id = $1", admitted.mdtrt_id
        )
    assert level == 2


async def test_a_bad_institutions_file_writes_nothing_and_names_the_row(
    settlement_db: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(
        HEADER
        + "H45010000091,南宁市测试医院甲,450100,HOSPITAL,2,,\n"
        + "H45010000092,南宁市测试医院乙,450100,HOSPITAL,5,,\n"
        + "P45010000093,南宁市测试药房,440100,PHARMACY,,,\n",
        "utf-8",
    )
    before = await rows(settlement_db)
    done = load_institutions(settings, file)
    assert done.returncode == 2
    assert "line 3, column level" in done.stderr
    assert "line 4, column pool_code" in done.stderr
    assert await rows(settlement_db) == before

    # A row that clashes with a stored one (same code and date, other content) refuses the
    # whole file, the good rows with it.
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "H45010000095,南宁市测试医院丁,450100,HOSPITAL,1,,\n", "utf-8")
    assert load_institutions(settings, good).returncode == 0
    clash = tmp_path / "clash.csv"
    clash.write_text(
        HEADER
        + "H45010000094,南宁市测试医院丙,450100,HOSPITAL,1,,\n"
        + "H45010000095,南宁市测试医院丁,450100,HOSPITAL,3,,\n",
        "utf-8",
    )
    done = load_institutions(settings, clash)
    assert done.returncode == 2, done.stdout
    assert "row 2" in done.stderr and "H45010000095" in done.stderr
    assert await rows(settlement_db) == before + 1
