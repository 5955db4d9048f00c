"""Migration 0008 moves the per-fund columns of settlements and accumulations into maps
keyed by fund, keeping every stored fen, and the maps keep the books' invariants."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import db

FUND_MAPS = "0008_fund_amounts_by_fund.sql"
_SETTLEMENT = """
INSERT INTO settlements (
    setl_id, kind, reverses_setl_id, mdtrt_id, hospital_code, treatment_pool, psn_no,
    insured_pool, insutype, med_type, relation, msgid, setl_time, setl_date, clearing_period,
    acc_year, medfee_sumamt_fen, fulamt_ownpay_amt_fen, overlmt_selfpay_fen,
    preselfpay_amt_fen, inscp_scp_amt_fen, act_pay_dedc_fen, hifp_pay_fen,
    pool_prop_selfpay_bp, cvlserv_pay_fen, hifes_pay_fen, hifmi_pay_fen, hifob_pay_fen,
    maf_pay_fen, oth_pay_fen, fund_pay_sumamt_fen, psn_part_amt_fen, acct_pay_fen,
    psn_cash_pay_fen, balc_fen, ratio_reduction_bp, policy_version_id, catalogue_version_id,
    delta, lines, created_at)
VALUES ($1, $2, $3, 'M1', 'H1', '450100', 'P1', '440100', '310', '21', 'CROSS_PROVINCE',
        $4, now(), current_date, '202606', 2026,
        $5 * 100000, 0, 0, 0, $5 * 100000, 0, $5 * 60000, 8000, 0, 0, 0, $5 * 10000,
        $5 * 5000, 0, $5 * 75000, $5 * 25000, $5 * 5000, $5 * 20000, 0, 0, 'p', 'c',
        '{}', '[]', now())
"""


# The same settlement as stored today (after 0008): its funds a map.
_SETTLEMENT_NOW = """
INSERT INTO settlements (
    setl_id, kind, reverses_setl_id, mdtrt_id, hospital_code, treatment_pool, psn_no,
    insured_pool, insutype, med_type, relation, msgid, setl_time, setl_date, clearing_period,
    acc_year, medfee_sumamt_fen, fulamt_ownpay_amt_fen, overlmt_selfpay_fen,
    preselfpay_amt_fen, inscp_scp_amt_fen, act_pay_dedc_fen, fund_pay_fen,
    pool_prop_selfpay_bp, fund_pay_sumamt_fen, psn_part_amt_fen, acct_pay_fen,
    psn_cash_pay_fen, balc_fen, ratio_reduction_bp, policy_version_id, catalogue_version_id,
    delta, lines, created_at)
VALUES ($1, 'SETTLEMENT', NULL, 'M1', 'H1', '450100', 'P1', '440100', '310', '21',
        'CROSS_PROVINCE', $2, now(), current_date, '202606', 2026,
        100000, 0, 0, 0, 100000, 0, $3::jsonb, 8000, 75000, 25000, 5000, 20000, 0, 0, 'p',
        'c', '{}', '[]', now())
"""


@pytest.fixture
async def conn(database: str, unique: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A connection and a schema of its own, dropped afterwards."""
    connection = await asyncpg.connect(database)
    schema = f"settlement_m{unique.replace('-', '')[:12].lower()}"
    yield connection, schema
    await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await connection.close()


async def test_0008_moves_every_fen_into_the_fund_maps(
    conn: tuple[asyncpg.Connection, str],
) -> None:
    connection, schema = conn
    migrations = db.migrations_for("settlement")
    at = next(i for i, m in enumerate(migrations) if m.id.endswith(FUND_MAPS))
    before = migrations[:at]
    await db.migrate(connection, schema, before)
    await connection.execute(f'SET search_path TO "{schema}", public')
    async with connection.transaction():
        # Only the amounts are under test: no encounter or versions behind the rows.
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(_SETTLEMENT, "S1", "SETTLEMENT", None, "m1", 1)
        await connection.execute(_SETTLEMENT, "S2", "REVERSAL", "S1", "m2", -1)
        await connection.execute(
            """INSERT INTO accumulations (psn_no, insutype, acc_year, hifp_basic_paid_fen,
                   hifob_paid_fen, maf_paid_fen, acct_paid_fen, updated_at)
               VALUES ('P1', '310', 2026, 60000, 10000, 0, 5000, now())"""
        )

    applied = await db.migrate(connection, schema, migrations)
    assert applied == [m.id for m in migrations[at:]] and applied[0] == f"settlement/{FUND_MAPS}"

    rows = await connection.fetch(
        "SELECT setl_id, fund_pay_fen, fund_pay_sumamt_fen FROM settlements ORDER BY setl_id"
    )
    assert [(r["setl_id"], json.loads(r["fund_pay_fen"])) for r in rows] == [
        ("S1", {"hifp": 60000, "hifob": 10000, "maf": 5000}),
        ("S2", {"hifp": -60000, "hifob": -10000, "maf": -5000}),
    ]
    acc = await connection.fetchrow("SELECT * FROM accumulations")
    assert json.loads(acc["fund_paid_fen"]) == {"hifob": 10000, "acct": 5000}
    assert acc["hifp_basic_paid_fen"] == 60000
    assert "hifob_paid_fen" not in acc and "hifp_pay_fen" not in rows[0]

    # The funds must still sum to fund_pay_sumamt_fen and carry the record's sign.
    for bad in ('{"hifp": 60000, "hifob": 10000}', '{"hifp": 80000, "maf": -5000}'):
        with pytest.raises(asyncpg.CheckViolationError):
            await connection.execute(
                "UPDATE settlements SET fund_pay_fen = $1::jsonb WHERE setl_id = 'S1'", bad
            )
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute("""UPDATE accumulations SET fund_paid_fen = '{"maf": -1}'""")


@pytest.mark.parametrize(
    "funds",
    [
        '{"hifp": 60000, "hifob": 10000, "acct": 5000}',  # the personal account is no fund
        '{"hifp": 60000, "hifob": 10000, "hifes": 5000}',  # no fund of the vocabulary
        '{"hifp": 60000, "hifob": 10000, "maf": "5000"}',  # a string, not fen
        '{"hifp": 60000, "hifob": 10000, "maf": 4999.5, "hifmi": 0.5}',  # fractions of a fen
        '{"HIFP": 60000, "hifob": 10000, "maf": 5000}',  # not a fund code
    ],
)
async def test_fund_maps_hold_fund_codes_and_whole_fen(
    conn: tuple[asyncpg.Connection, str], funds: str
) -> None:
    connection, schema = conn
    await db.migrate(connection, schema, db.migrations_for("settlement"))
    await connection.execute(f'SET search_path TO "{schema}", public')
    async with connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            _SETTLEMENT_NOW, "S1", "m1", '{"hifp": 60000, "hifob": 10000, "maf": 5000}'
        )
    # Refused by the entries' check (or, for a fraction, already by the sum's bigint cast).
    with pytest.raises((asyncpg.CheckViolationError, asyncpg.InvalidTextRepresentationError)):
        await connection.execute(
            "UPDATE settlements SET fund_pay_fen = $1::jsonb WHERE setl_id = 'S1'", funds
        )
    await connection.execute(
        """INSERT INTO accumulations (psn_no, insutype, acc_year, fund_paid_fen, updated_at)
           VALUES ('P1', '310', 2026, '{"acct": 5000, "hifob": 1}', now())"""
    )  # the annual counters do count the personal account
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute("""UPDATE accumulations SET fund_paid_fen = '{"acct": "1"}'""")
