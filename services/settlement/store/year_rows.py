"""A person's year row (``accumulations``) as statements read it: its columns, its decoding,
and the row version a gated settlement checks it by."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def accumulations_of(r: asyncpg.Record | Mapping[str, Any] | None) -> Accumulations:
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
    """A person's year row as one statement's snapshot had it, with its row version."""

    year: int
    accumulations: Accumulations
    version: int  # xmin of the row version read


def year_row(*, encounter: str, year: str) -> str:
    """A scalar sub-select of a statement's select list: the year ``year`` (a parameter,
    e.g. ``"$15"``) of the person of the CTE ``encounter`` (psn_no, insutype) as one
    record (:func:`year_row_of`), NULL if the person has no row for that year."""
    columns = ", ".join(f"a.{c}" for c in ACC_COLUMNS)
    return f"""(SELECT ROW(a.acc_year, a.xmin, {columns})
       FROM {encounter} x JOIN accumulations a
         ON a.psn_no = x.psn_no AND a.insutype = x.insutype AND a.acc_year = {year})"""


def year_row_of(record: tuple[Any, ...] | None) -> YearRow | None:
    """The record :func:`year_row` selects."""
    if record is None:
        return None
    year, version, *values = record
    return YearRow(year, accumulations_of(dict(zip(ACC_COLUMNS, values, strict=True))), version)
