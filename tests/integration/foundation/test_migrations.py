"""Two processes migrating the same database at the same moment apply each file once."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from shared.config import Settings
from shared.db import migrations_for

SCRIPT = """
import asyncio, sys
from shared.db import migrate_service
applied = asyncio.run(migrate_service(sys.argv[1], "clearing", schema=sys.argv[2]))
print(len(applied))
"""


async def test_concurrent_processes_apply_each_migration_once(
    settings: Settings, database: str, unique: str
) -> None:
    schema = f"migrate_race_{unique}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SCRIPT,
            database,
            schema,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1].decode()[-2000:] for r in results]
    counts = sorted(int(out.decode().strip().splitlines()[-1]) for out, _ in results)
    expected = len(migrations_for("clearing"))
    assert counts == [0, expected], "one process applies everything, the other nothing"
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(f'SELECT id FROM "{schema}".schema_migrations')
        assert sorted(r["id"] for r in rows) == sorted(m.id for m in migrations_for("clearing"))
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
