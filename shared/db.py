"""PostgreSQL: connection pools and the migration runner.

Each service owns one schema. Its migrations are numbered SQL files: the shared ones
(``shared/migrations``: outbox and inbox) then the service's own
(``services/<name>/migrations``), applied in order, exactly once, recorded in
``<schema>.schema_migrations``. Two processes starting at the same moment serialise on a
transaction-level advisory lock, so each file runs once; each run is one transaction, so
a failing file leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from shared.clock import SYSTEM

log = structlog.get_logger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# Advisory-lock namespace for migrations ("cc" in ASCII), so no other lock collides.
_MIGRATION_LOCK_CLASS = 0x6363


@dataclass(frozen=True)
class Migration:
    id: str  # "<source>/<file name>", e.g. "shared/0001_outbox_inbox.sql"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def _load_folder(package: str, source: str) -> list[Migration]:
    folder = resources.files(package) / "migrations"
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            if not _MIGRATION_NAME.match(entry.name):
                raise MigrationError(f"migration file name {entry.name!r} is not NNNN_name.sql")
            found.append(Migration(f"{source}/{entry.name}", entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.id)


def migrations_for(service: str) -> list[Migration]:
    return _load_folder("shared", "shared") + _load_folder(f"services.{service}", service)


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def migrate(
    conn: asyncpg.Connection, schema: str, migrations: Sequence[Migration]
) -> list[str]:
    """Apply the pending migrations into schema; return the ids applied by this call."""
    check_schema_name(schema)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _MIGRATION_LOCK_CLASS, schema
        )
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   id text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL)"""
        )
        applied = {
            r["id"]: r["checksum"]
            for r in await conn.fetch("SELECT id, checksum FROM schema_migrations")
        }
        done: list[str] = []
        for migration in migrations:
            if migration.id in applied:
                if applied[migration.id] != migration.checksum:
                    raise MigrationError(
                        f"{schema}: migration {migration.id} changed after it was applied"
                    )
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (id, checksum, applied_at) VALUES ($1, $2, $3)",
                migration.id,
                migration.checksum,
                SYSTEM.now(),  # when it really ran: operational, not simulated, time
            )
            done.append(migration.id)
    if done:
        log.info("migrations applied", schema=schema, applied=done)
    return done


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def database_of(url: str) -> str:
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise ValueError(f"database URL {url!r} names no database")
    return name


async def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (connecting to 'postgres')."""
    name = database_of(url)
    conn = await asyncpg.connect(with_database(url, "postgres"), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("database created", database=name)
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                # Another process created it between our check and our create; two
                # concurrent CREATE DATABASE collide on pg_database's unique index.
                pass
    finally:
        await conn.close()


async def migrate_service(url: str, service: str, schema: str | None = None) -> list[str]:
    await ensure_database(url)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await migrate(conn, schema or service, migrations_for(service))
    finally:
        await conn.close()


async def release_without_reset(_conn: asyncpg.Connection) -> None:
    """Release without the server round trip of a full reset (see ``create_pool``)."""


_opened = 0


def connections_opened() -> int:
    """How many connections this process's pools have opened so far. A row version
    (xmin) learnt over a connection opened before the latest one may belong to another
    server's history: a failover or a restore is seen by the process only as connections
    lost and opened again, and transaction ids are reused after one."""
    return _opened


async def _count_opened(_conn: asyncpg.Connection) -> None:
    global _opened
    _opened += 1


async def create_pool(
    url: str,
    schema: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    app_name: str = "crossclear",
    full_reset: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in the service's schema.

    ``full_reset=False`` skips asyncpg's reset statement on every release (advisory
    unlock, CLOSE ALL, UNLISTEN, RESET ALL: one round trip per request). asyncpg still
    rolls back an open transaction and drops its listeners locally. Only for code that
    leaves no session state behind: no session advisory locks, no SET, and LISTEN undone
    (UNLISTEN) before release — true of settlement and filing, not of clearing, whose
    month-end holds a session advisory lock."""
    check_schema_name(schema)
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=10,
        command_timeout=30,
        server_settings={"search_path": f'"{schema}", public', "application_name": app_name},
        reset=None if full_reset else release_without_reset,
        init=_count_opened,
    )
    assert pool is not None
    return pool
