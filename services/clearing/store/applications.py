"""Hospitals' clearing applications (3203/3204) and the ledger figures they match."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.clearing.domain.applications import ApplicationDifference, DifferenceKind
from services.clearing.domain.limits import MAX_APPLICATION_ITEMS, check_count
from services.clearing.domain.periods import Period
from shared import clock
from shared.bus.pg import Conn
from shared.records import record_from


@dataclass(frozen=True)
class ApplicationView:
    application_id: str
    hospital_code: str
    period: str
    state: str
    items_digest: str
    item_count: int
    application_fen: int
    ledger_item_count: int
    ledger_fen: int
    difference_count: int
    differences: tuple[ApplicationDifference, ...]


async def hospital_ledger_fen(
    conn: Conn, hospital_code: str, event_period: Period, timeout_s: float
) -> dict[str, int]:
    """The hospital's cleared amount per settlement id for the month settlement assigned
    (reversals under their own ids), summed in SQL: one row per settlement id."""
    rows = await conn.fetch(
        "SELECT setl_id, sum(amount_fen)::bigint AS fen FROM ledger "
        "WHERE hospital_code = $1 AND event_period = $2 GROUP BY setl_id LIMIT $3",
        hospital_code,
        str(event_period),
        MAX_APPLICATION_ITEMS + 1,
        timeout=timeout_s,
    )
    check_count("settlements of the hospital in the ledger", len(rows), MAX_APPLICATION_ITEMS)
    return {r["setl_id"]: r["fen"] for r in rows}


# Transaction-level advisory locks of this service ("cl" in ASCII).
_APPLICATION_LOCK_CLASS: Final = 0x636C


async def lock_application_month(conn: Conn, hospital_code: str, period: Period) -> None:
    """Serialise submissions of one hospital and month until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        _APPLICATION_LOCK_CLASS,
        f"{hospital_code}/{period}",
    )


async def active_application(conn: Conn, hospital_code: str, period: Period) -> str | None:
    """The id of the hospital's active application for the month, its row locked."""
    value = await conn.fetchval(
        "SELECT application_id FROM applications "
        "WHERE hospital_code = $1 AND period = $2 AND state = 'ACTIVE' FOR UPDATE",
        hospital_code,
        str(period),
    )
    return None if value is None else str(value)


async def insert_application(
    conn: Conn,
    *,
    hospital_code: str,
    period: Period,
    items_digest: str,
    item_count: int,
    application_fen: int,
    ledger_item_count: int,
    ledger_fen: int,
    differences: Sequence[ApplicationDifference],
    caller: str,
) -> str:
    application_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO applications (application_id, hospital_code, period, state, items_digest,
               item_count, application_fen, ledger_item_count, ledger_fen, difference_count,
               submitted_by, submitted_at)
           VALUES ($1, $2, $3, 'ACTIVE', $4, $5, $6, $7, $8, $9, $10, $11)""",
        application_id,
        hospital_code,
        str(period),
        items_digest,
        item_count,
        application_fen,
        ledger_item_count,
        ledger_fen,
        len(differences),
        caller,
        clock.now(),
    )
    if differences:
        await conn.copy_records_to_table(
            "application_differences",
            columns=["application_id", "setl_id", "kind", "application_fen", "ledger_fen"],
            records=[
                (application_id, d.setl_id, d.kind.value, d.application_fen, d.ledger_fen)
                for d in differences
            ],
        )
    return str(application_id)


async def application_view(
    conn: Conn,
    application_id: str,
    *,
    differences_max: int,
    lock: bool = False,
    hospital_code: str | None = None,
) -> ApplicationView | None:
    """The application, or None; with hospital_code, None unless it is that hospital's
    (whose row alone is then read and locked)."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(
        "SELECT * FROM applications WHERE application_id = $1 "
        f"AND ($2::text IS NULL OR hospital_code = $2){suffix}",
        uuid.UUID(application_id),
        hospital_code,
    )
    if row is None:
        return None
    differences = await conn.fetch(
        "SELECT setl_id, kind, application_fen, ledger_fen FROM application_differences "
        "WHERE application_id = $1 ORDER BY setl_id LIMIT $2",
        uuid.UUID(application_id),
        differences_max,
    )
    return record_from(
        ApplicationView,
        row,
        application_id=str(row["application_id"]),
        differences=tuple(
            record_from(ApplicationDifference, d, kind=DifferenceKind(d["kind"]))
            for d in differences
        ),
    )


async def cancel_application(conn: Conn, application_id: str, reason: str) -> None:
    status = await conn.execute(
        "UPDATE applications SET state = 'CANCELLED', cancelled_at = $3, cancel_reason = $2 "
        "WHERE application_id = $1 AND state = 'ACTIVE'",
        uuid.UUID(application_id),
        reason,
        clock.now(),
    )
    assert status == "UPDATE 1", status
