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


async def test_processes_starting_together_create_the_database_once(
    settings: Settings, database: str, unique: str
) -> None:
    """Services started together on a fresh server all try to create the database."""
    from shared.db import with_database

    url = with_database(database, f"create_race_{unique}")
    script = "import asyncio, sys\nfrom shared.db import ensure_database\nasyncio.run(ensure_database(sys.argv[1]))\n"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    errors = [(await p.communicate())[1].decode()[-500:] for p in procs]
    try:
        assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    finally:
        admin = await asyncpg.connect(with_database(database, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "create_race_{unique}" WITH (FORCE)')
        finally:
            await admin.close()
