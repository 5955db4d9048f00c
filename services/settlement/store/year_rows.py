"""A person's year row (``accumulations``) as statements read it: its columns, its decoding,
and the row version a gated settlement checks it by."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from services.settlement.domain.accumulations import Accumulations
from services.settlement.domain.codes import ChronicDisease, FundType

ACC_SCALARS = (
    "outpatient_deductible_used_fen",
    "hifp_basic_paid_fen",
    "hifp_outpatient_paid_fen",
    "hifmi_selfpay_base_fen",
)
# The maps: per chronic disease (the basic fund's) and per fund (every other fund's).
ACC_MAPS = ("chronic_hifp_paid_fen", "fund_paid_fen")
ACC_COLUMNS = (*ACC_SCALARS, *ACC_MAPS)


def accumulations_of(r: asyncpg.Record | None) -> Accumulations:
    if r is None or r["hifp_basic_paid_fen"] is None:
        return Accumulations()
    return Accumulations(
        **{n: r[n] for n in ACC_SCALARS},
        chronic_hifp_paid_fen={
            ChronicDisease(k): int(v) for k, v in json.loads(r["chronic_hifp_paid_fen"]).items()
        },
        fund_paid_fen={FundType(k): int(v) for k, v in json.loads(r["fund_paid_fen"]).items()},
    )


@dataclass(frozen=True)
class YearRow:
    """A person's year row as one statement's snapshot had it, with its row version; or
    its absence (no settlement that year yet: nothing accumulated, no version)."""

    year: int
    accumulations: Accumulations
    version: int | None  # xmin of the row version read; None: there was no row


def with_year_row(select: str, *, psn_no: str, insutype: str, year: str) -> str:
    """A gated write's select list ``select`` (its counts, evaluated once and in their
    order, in a sub-select of their own) with the person's year row ``year`` as the
    statement's snapshot has it (``psn_no``, ``insutype``, ``year``: its parameters), or
    NULLs (:func:`year_row_of`). The year row is only read, without a lock, so where the
    plan reads it makes no difference: the snapshot is the statement's."""
    columns = ", ".join(f"a.{c}" for c in ACC_COLUMNS)
    return f"""SELECT w.*, a.acc_year AS year_row_year, a.xmin AS year_row_version, {columns}
  FROM (SELECT {select} OFFSET 0) w
  LEFT JOIN accumulations a
    ON a.psn_no = {psn_no} AND a.insutype = {insutype} AND a.acc_year = {year}"""


def year_row_of(row: asyncpg.Record, year: int) -> YearRow:
    """The year row ``year`` a statement built by :func:`with_year_row` read, or that
    there was none."""
    if row["year_row_version"] is None:
        return YearRow(year, Accumulations(), None)
    assert row["year_row_year"] == year
    return YearRow(year, accumulations_of(row), row["year_row_version"])
