"""Settlement 0006 and filing 0004 rewrite what was stored under the former chronic codes
MT01…MT10 to the national codes (dialysis MT04 → haemodialysis M07803)."""

from __future__ import annotations

import json

import asyncpg

from shared.db import migrate, migrations_for


async def test_stored_chronic_codes_become_national(database: str, unique: str) -> None:
    conn = await asyncpg.connect(database)
    settlement, filing = f"natcodes_s_{unique}", f"natcodes_f_{unique}"
    try:
        everything = migrations_for("settlement")
        # A database as it stood before 0006, holding rows under the former codes.
        before = next(i for i, m in enumerate(everything) if "/0006_" in m.id)
        await migrate(conn, settlement, everything[:before])
        await conn.execute(
            f"""INSERT INTO "{settlement}".catalogue_versions
                (version_id, province_code, effective_date, body, body_sha256, item_count,
                 loaded_by, loaded_at)
                VALUES ('X', '45', '2026-01-01',
                        '{{"items": [{{"chronic_diseases": ["MT04", "MT03"]}}]}}',
                        'digest', 1, 'test', now())"""
        )
        await conn.execute(
            f"""INSERT INTO "{settlement}".accumulations
                (psn_no, insutype, acc_year, updated_at, chronic_hifp_paid_fen)
                VALUES ('450100ABCD', '310', 2026, now(), '{{"MT02": 5, "M05300": 3}}')"""
        )
        assert await migrate(conn, settlement, everything) == [m.id for m in everything[before:]]
        body = await conn.fetchval(f'SELECT body::text FROM "{settlement}".catalogue_versions')
        assert json.loads(body) == {"items": [{"chronic_diseases": ["M07803", "M00503"]}]}
        paid = await conn.fetchval(
            f'SELECT chronic_hifp_paid_fen::text FROM "{settlement}".accumulations'
        )
        assert json.loads(paid) == {"M01600": 5, "M05300": 3}

        filing_all = migrations_for("filing")
        await migrate(conn, filing, [m for m in filing_all if "/0004_" not in m.id])
        check = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'chronic_certifications_disease_code_check'"
            "   AND connamespace = $1::regnamespace",
            filing,
        )
        assert "MT" in check
        await migrate(conn, filing, filing_all)
        check = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'chronic_certifications_disease_code_check'"
            "   AND connamespace = $1::regnamespace",
            filing,
        )
        assert "M[0-9]{5}" in check
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settlement}" CASCADE')
        await conn.execute(f'DROP SCHEMA IF EXISTS "{filing}" CASCADE')
        await conn.close()
