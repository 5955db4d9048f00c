"""Filing 0006 stores a person's sex by its national gend code; settlement 0010 renames
the assistance category DIBAO to the vocabulary's MINIMUM_LIVING in what it stored, so
stored encounters and policy versions still load."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.settlement.domain.codes import AssistanceCategory
from services.settlement.domain.policy import BenefitPolicy
from services.settlement.domain.seed import load_policies
from shared.db import migrate, migrations_for
from shared.vocabulary import Sex

_PERSON = """
INSERT INTO persons (psn_no, name, insured_pool, insutype, person_type, assistance_category,
                     sex, birth_date, acct_balance_fen, created_at, updated_at)
VALUES ($1, 'X', '450100', '390', 'IN_SERVICE', 'NONE', $2, '1970-01-01', 0, now(), now())
"""
_ENCOUNTER = """
INSERT INTO encounters (mdtrt_id, hospital_code, hospital_level, treatment_pool, visit_no,
    med_type, emergency, begin_date, state, psn_no, psn_name, insured_pool, insutype,
    person_type, sex, birth_date, maf_category, acct_opening_balance_fen, relation,
    coverage_allowed, coverage_basis, filing_id, filing_category, ratio_reduction_bp,
    local_ratio, coverage_reason, coverage_message, coverage_checked_at, opened_msgid,
    created_at, updated_at)
VALUES ($1, 'H440100001', 3, '440100', 'V1', '21', false, '2026-03-01', 'OPEN',
    '4501000001', 'X', '450100', '390', 'IN_SERVICE', '2', '1970-01-01', $2, 0,
    'CROSS_PROVINCE', true, 'FILING', 'F1', 'RESIDENT_MOVED', 0, false, '', '', now(), $1,
    now(), now())
"""


async def test_filing_stores_sex_by_national_code(database: str, unique: str) -> None:
    conn = await asyncpg.connect(database)
    schema = f"vocab_f_{unique}"
    try:
        everything = migrations_for("filing")
        await migrate(conn, schema, [m for m in everything if "/0006_" not in m.id])
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute(_PERSON, "4501000001", "MALE")
        await conn.execute(_PERSON, "4501000002", "FEMALE")

        assert await migrate(conn, schema, everything) == [
            m.id for m in everything if "/0006_" in m.id
        ]
        rows = await conn.fetch("SELECT psn_no, sex FROM persons ORDER BY psn_no")
        assert [Sex(r["sex"]) for r in rows] == [Sex.MALE, Sex.FEMALE]
        await conn.execute(_PERSON, "4501000003", Sex.FEMALE.value)
        with pytest.raises(asyncpg.CheckViolationError):  # the former spelling
            await conn.execute(_PERSON, "4501000004", "MALE")
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_settlement_stored_assistance_category_is_renamed(database: str, unique: str) -> None:
    conn = await asyncpg.connect(database)
    schema = f"vocab_s_{unique}"
    policy = load_policies()[0]
    shipped = policy.to_dict()
    ratios = shipped["maf"]["ratio_bp_by_category"]
    stored = {
        **shipped,
        "maf": {
            **shipped["maf"],
            "ratio_bp_by_category": {
                ("DIBAO" if k == "MINIMUM_LIVING" else k): v for k, v in ratios.items()
            },
        },
    }
    try:
        everything = migrations_for("settlement")
        at = next(i for i, m in enumerate(everything) if "/0010_" in m.id)
        await migrate(conn, schema, everything[:at])
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute(
            """INSERT INTO policy_versions (version_id, policy_id, effective_date, pool_codes,
                   body, body_sha256, loaded_by, loaded_at)
               VALUES ($1, $2, $3, $4, $5::jsonb, 'digest', 'test', now())""",
            policy.version_id,
            policy.policy_id,
            policy.effective_date,
            list(policy.pool_codes),
            json.dumps(stored),
        )
        await conn.execute(_ENCOUNTER, "M1", "DIBAO")
        await conn.execute(_ENCOUNTER, "M2", "DESTITUTE")
        await conn.execute(_ENCOUNTER, "M3", None)

        assert await migrate(conn, schema, everything) == [m.id for m in everything[at:]]
        row = await conn.fetchrow("SELECT version_id, body::text FROM policy_versions")
        assert row["version_id"] == policy.version_id
        body = json.loads(row["body"])
        assert body == shipped
        assert BenefitPolicy.from_dict(body) == policy
        categories = await conn.fetch("SELECT maf_category FROM encounters ORDER BY mdtrt_id")
        assert [r["maf_category"] for r in categories] == [
            AssistanceCategory.MINIMUM_LIVING.value,
            AssistanceCategory.DESTITUTE.value,
            None,
        ]
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
