"""Settlement 0007 folds the msgids' idempotency keys into their journal rows."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db import migrate, migrations_for

H = "H45010000001"
JOURNALLED = H + "202612011200000001"  # 30 characters, as msgids are
KEY_ONLY = H + "202612011200000002"
CORRECTED = H + "202612011200000003"


async def test_existing_keys_move_onto_the_journal(database: str, unique: str) -> None:
    conn = await asyncpg.connect(database)
    schema = f"journal_{unique}"
    try:
        everything = migrations_for("settlement")
        at = next(i for i, m in enumerate(everything) if "/0007_" in m.id)
        await migrate(conn, schema, everything[:at])
        await conn.execute(f'SET search_path = "{schema}"')
        await conn.execute(
            """INSERT INTO messages (msgid, hospital_code, infno, mdtrt_id, state, received_at,
                                     corrected_by, corrected_at)
               VALUES ($1, $4, '2201', 'M1', 'DONE', now(), NULL, NULL),
                      ($3, $4, '2201', 'M2', 'CORRECTED', now(), $2, now())""",
            JOURNALLED,
            KEY_ONLY,
            CORRECTED,
            H,
        )
        await conn.execute(
            """INSERT INTO idempotency_keys (scope, key, fingerprint, response, created_at)
               VALUES ('settlement', $1, '\\x01', '\\x0a01', now()),
                      ('settlement', $2, '\\x02', '\\x0a02', now()),
                      ('filing', $1, '\\x03', '\\x0a03', now())""",
            JOURNALLED,
            KEY_ONLY,
        )
        assert await migrate(conn, schema, everything) == [m.id for m in everything[at:]]
        rows = {
            r["msgid"]: r
            for r in await conn.fetch(
                "SELECT msgid, infno, mdtrt_id, state, fingerprint, response FROM messages"
            )
        }
        assert (rows[JOURNALLED]["state"], rows[JOURNALLED]["mdtrt_id"]) == ("DONE", "M1")
        assert bytes(rows[JOURNALLED]["fingerprint"]) == b"\x01"
        assert bytes(rows[JOURNALLED]["response"]) == b"\x0a\x01"
        assert (rows[KEY_ONLY]["state"], rows[KEY_ONLY]["infno"]) == ("DONE", "")
        assert bytes(rows[KEY_ONLY]["response"]) == b"\x0a\x02"
        assert rows[CORRECTED]["state"] == "CORRECTED" and rows[CORRECTED]["response"] is None
        # Settlement's keys left the shared table; another scope's stay where they were.
        assert await conn.fetchval("SELECT array_agg(scope) FROM idempotency_keys") == ["filing"]
        # A claimed row has no infno yet; a done one must say what it did.
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO messages (msgid, hospital_code, state, received_at)"
                " VALUES ($1, $2, 'DONE', now())",
                H + "9" * 18,
                H,
            )
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
