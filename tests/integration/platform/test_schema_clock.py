"""Once every service has migrated, no column of theirs takes its time from the database
server's clock: every time is written from the services' clock."""

from __future__ import annotations

import asyncpg

from shared.config import Settings


async def test_no_column_defaults_to_the_database_clock(
    settings: Settings,
    filing_service: object,
    settlement_service: object,
    clearing_service: object,
) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            """SELECT table_schema, table_name, column_name, column_default
                 FROM information_schema.columns
                WHERE table_schema IN ('filing', 'settlement', 'clearing')
                  AND column_default ~* '(now|clock_timestamp|statement_timestamp|transaction_timestamp)\\(|current_(date|timestamp)|localtimestamp'"""
        )
    finally:
        await conn.close()
    assert [dict(r) for r in rows] == []
