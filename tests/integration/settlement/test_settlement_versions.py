"""An operator loads new policy and catalogue versions with the CLI; the running service
uses them for the next settlement and records them on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg

from services.settlement.domain.seed import DATA_PACKAGE
from shared.config import Settings
from tests.support.polling import wait_until

from .support import COLONOSCOPY, Filing, Hospital, fee, today

CHONGZUO, CHONGZUO_HOSPITAL = "451400", "H45140000001"
PICKUP_WAIT_S = 10.0
DATA = Path(__file__).resolve().parents[3] / DATA_PACKAGE.replace(".", "/")


def crossclear(settings: Settings, *args: str) -> str:
    env = {**os.environ, "CROSSCLEAR_DATABASE_URL": settings.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "settlement", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_new_versions_reach_the_running_service(
    hospital: Callable[[str], Hospital],
    filing: Filing,
    settlement_db: asyncpg.Pool,
    settings: Settings,
    tmp_path: Path,
) -> None:
    stamp = today().strftime("%Y%m%d")
    policy = json.loads((DATA / "policy_gx.json").read_text(encoding="utf-8"))
    policy.update(
        policy_id="CZ_PILOT",
        version_id=f"CZ_PILOT-{stamp}",
        effective_date=today().isoformat(),
        pool_codes=[CHONGZUO],
    )
    policy["employee"]["outpatient"]["ratio_bp"] = 9_000
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy, ensure_ascii=False), encoding="utf-8")
    assert "loaded" in crossclear(settings, "load-policy", str(policy_file))
    catalogue_version = f"GX-CAT-{stamp}"
    out = crossclear(
        settings,
        "load-catalogue",
        str(DATA / "catalogue_45_guangxi.csv"),
        "--province", "45",
        "--version", catalogue_version,
        "--effective", today().isoformat(),
    )  # fmt: skip
    assert "301 items" in out
    # Loading the same version again is a no-op; the same id with other content is refused.
    assert "already loaded" in crossclear(settings, "load-policy", str(policy_file))

    person = await filing.new_person(CHONGZUO)
    h = hospital(CHONGZUO_HOSPITAL)
    mdtrt_id, total_fen = await h.outpatient_visit(person, [fee(1, COLONOSCOPY, "45")])

    async def picked_up() -> bool:
        pre = (await h.presettle(person, mdtrt_id)).setlinfo
        return bool(pre.policy_version_id == policy["version_id"])

    await wait_until(picked_up, timeout_s=PICKUP_WAIT_S, interval_s=0.2, what="new version")
    info = (await h.settle(person, mdtrt_id, total_fen)).setlinfo
    assert info.policy_version_id == policy["version_id"]
    assert info.catalogue_version_id == catalogue_version
    assert info.hifp_pay_fen == (total_fen - 10_000) * 90 // 100
    async with settlement_db.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT policy_version_id, catalogue_version_id FROM settlements WHERE setl_id = $1",
            info.setl_id,
        )
    assert tuple(stored) == (policy["version_id"], catalogue_version)
