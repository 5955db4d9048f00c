"""The registry of designated institutions: stored in PostgreSQL, held in memory.

Hospitals and pharmacies (code, name, pool, kind, hospital level, designation period) are
managed data in ``institution_versions``, modeled on the catalogue and policy versions
(``services.settlement.versions``): rows are immutable, a change is a new row with its own
effective date, the whole registry is loaded at start-up and reloaded when an operator
loads rows (LISTEN/NOTIFY, with the periodic check as fallback), so settlement reads a
hospital's level without a round trip. On first start the shipped sample
(``shared/reference/institutions.csv``) is stored, under an advisory lock.

Who an institution is on a day is the row with the latest effective date on or before
that day, and it is designated that day if the day falls in that row's designation
period. Settlement asks ``institution_at(code, day)`` — the level of an encounter is the
hospital's level on the encounter's begin date.

Until a service installs the stored registry (``install``), the module answers from the
shipped sample, so pure code and unit tests see the same institutions a fresh database
is seeded with.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Final

import asyncpg
import structlog

from services.settlement.institution_file import InstitutionRow
from services.settlement.versions import ReloadOnNotify
from shared import clock
from shared.bus.pg import Conn
from shared.errors import AlreadyExists, FailedPrecondition
from shared.reference import (
    Institution,
    InstitutionKind,
    UnknownCode,
    institutions,
)

log = structlog.get_logger(__name__)

# The shipped sample is designated from this date (before any simulated or real month).
SEED_EFFECTIVE: Final = date(2020, 1, 1)
ROWS_MAX: Final = 200_000  # every version of every institution of a province, with room
_SEED_LOCK: Final = 0x63630054
_DB_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True)
class DesignatedInstitution(Institution):
    """An institution as the registry has it on a day: the row in effect, and its period."""

    effective_date: date
    designated_from: date
    designated_until: date | None

    @classmethod
    def of(cls, row: InstitutionRow) -> DesignatedInstitution:
        return cls(
            row.code,
            row.name_zh,
            row.pool_code,
            row.kind,
            row.level,
            row.effective_date,
            row.designated_from,
            row.designated_until,
        )

    def designated_on(self, day: date) -> bool:
        return self.designated_from <= day and (
            self.designated_until is None or day <= self.designated_until
        )


def shipped_rows() -> list[InstitutionRow]:
    """The sample shipped with the package, as registry rows (the first start's seed)."""
    return [
        InstitutionRow(
            i.code, i.name_zh, i.pool_code, i.kind, i.level, SEED_EFFECTIVE, SEED_EFFECTIVE, None
        )
        for i in institutions()
    ]


class Registry(ReloadOnNotify):
    """Every stored version of every institution; replaced whole on reload."""

    def __init__(self, rows: Iterable[InstitutionRow] = ()) -> None:
        super().__init__()
        self._generation = -1
        self._index(rows)

    def _index(self, rows: Iterable[InstitutionRow]) -> None:
        by_code: dict[str, list[DesignatedInstitution]] = {}
        for row in rows:
            by_code.setdefault(row.code, []).append(DesignatedInstitution.of(row))
        for versions in by_code.values():
            versions.sort(key=lambda v: v.effective_date)
        # One assignment: a request reads either the old or the new registry, never a mix.
        self._state = (
            {code: tuple(v) for code, v in by_code.items()},
            {code: tuple(v.effective_date for v in vs) for code, vs in by_code.items()},
            tuple(sorted(by_code)),
        )

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code with at least one version, sorted."""
        return self._state[2]

    def version_at(self, code: str, day: date) -> DesignatedInstitution | None:
        """The row of ``code`` in effect on ``day`` (designated that day or not)."""
        versions, dates, _ = self._state
        found = versions.get(code)
        if found is None:
            return None
        at = bisect.bisect_right(dates[code], day)
        return found[at - 1] if at else None

    def institution_at(self, code: str, day: date) -> DesignatedInstitution:
        """The institution designated under ``code`` on ``day``; UnknownCode if none."""
        found = self.version_at(code, day)
        if found is None or not found.designated_on(day):
            raise UnknownCode("institution", code)
        return found

    def query(
        self,
        day: date,
        *,
        code: str = "",
        pool_code: str = "",
        kind: InstitutionKind | None = None,
        after_code: str = "",
        limit: int = 100,
    ) -> list[DesignatedInstitution]:
        """Institutions designated on ``day`` matching the filters, by code, after a code."""
        assert 0 < limit <= ROWS_MAX
        codes = (code,) if code else self.codes
        start = bisect.bisect_right(codes, after_code) if after_code else 0
        out: list[DesignatedInstitution] = []
        for candidate in codes[start:]:
            found = self.version_at(candidate, day)
            if found is None or not found.designated_on(day):
                continue
            if pool_code and found.pool_code != pool_code:
                continue
            if kind is not None and found.kind is not kind:
                continue
            out.append(found)
            if len(out) == limit:
                break
        return out

    async def reload(self, pool: asyncpg.Pool) -> bool:
        """Load the stored rows if any were added since the last load; True if it did."""
        async with pool.acquire(timeout=_DB_TIMEOUT_S) as conn:
            generation = int(await conn.fetchval("SELECT count(*) FROM institution_versions"))
            if generation == self._generation:
                return False
            assert generation <= ROWS_MAX, generation
            records = await conn.fetch(
                """SELECT code, name_zh, pool_code, kind, level, effective_date,
                          designated_from, designated_until
                     FROM institution_versions"""
            )
        self._index(_row_of(r) for r in records)
        self._generation = generation
        log.info("institution registry loaded", rows=generation, institutions=len(self.codes))
        return True


def _row_of(r: asyncpg.Record) -> InstitutionRow:
    return InstitutionRow(
        r["code"],
        r["name_zh"],
        r["pool_code"],
        InstitutionKind(r["kind"]),
        r["level"],
        r["effective_date"],
        r["designated_from"],
        r["designated_until"],
    )


# --- the registry this process answers from ----------------------------------------------


@cache
def _shipped() -> Registry:
    return Registry(shipped_rows())


_installed: Registry | None = None


def install(registry: Registry | None) -> Registry | None:
    """Answer from ``registry`` (the service's stored registry; None: the shipped sample);
    returns the one installed before, to put back when the service stops."""
    global _installed
    previous, _installed = _installed, registry
    return previous


def installed() -> Registry | None:
    return _installed


def current() -> Registry:
    return _installed if _installed is not None else _shipped()


def institution_at(code: str, day: date) -> DesignatedInstitution:
    """The institution designated under ``code`` on ``day`` (UnknownCode if none)."""
    return current().institution_at(code, day)


def hospital_at(code: str, day: date) -> DesignatedInstitution:
    """The hospital designated under ``code`` on ``day``; a pharmacy is unknown here."""
    found = institution_at(code, day)
    if found.kind is not InstitutionKind.HOSPITAL:
        raise UnknownCode("hospital", code)
    return found


def hospital_level_at(code: str, day: date) -> int:
    """The level of a hospital on a day (an encounter's begin date): FAILED_PRECONDITION
    when the hospital was not designated that day."""
    try:
        hospital = hospital_at(code, day)
    except UnknownCode:
        raise FailedPrecondition(
            "INSTITUTION_NOT_DESIGNATED", f"{code} is not a designated hospital on {day}"
        ) from None
    assert hospital.level is not None
    return hospital.level


# --- writing rows (seed, operator) --------------------------------------------------------


def _digest(row: InstitutionRow) -> str:
    text = json.dumps(row.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def store_rows(conn: Conn, rows: Sequence[InstitutionRow], loaded_by: str) -> int:
    """Store the rows in the caller's transaction; the number newly stored.

    A row already stored with the same content is left alone (a reload of the same file
    is a no-op); one stored under the same code and effective date with other content is
    refused, naming it: rows are immutable, a change takes a new effective date."""
    if not rows:
        return 0
    digests = [_digest(r) for r in rows]
    inserted = await conn.fetch(
        """INSERT INTO institution_versions
               (code, effective_date, name_zh, pool_code, kind, level, designated_from,
                designated_until, row_sha256, loaded_by, loaded_at)
           SELECT u.code, u.effective_date, u.name_zh, u.pool_code, u.kind, u.level,
                  u.designated_from, u.designated_until, u.digest, $10, $11
             FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[],
                         $6::smallint[], $7::date[], $8::date[], $9::text[])
                  AS u(code, effective_date, name_zh, pool_code, kind, level, designated_from,
                       designated_until, digest)
           ON CONFLICT (code, effective_date) DO NOTHING
           RETURNING code""",
        [r.code for r in rows],
        [r.effective_date for r in rows],
        [r.name_zh for r in rows],
        [r.pool_code for r in rows],
        [r.kind.value for r in rows],
        [r.level for r in rows],
        [r.designated_from for r in rows],
        [r.designated_until for r in rows],
        digests,
        loaded_by,
        clock.now(),
    )
    if len(inserted) == len(rows):
        return len(rows)
    new = {r["code"] for r in inserted}
    stored = {
        (r["code"], r["effective_date"]): r["row_sha256"]
        for r in await conn.fetch(
            """SELECT code, effective_date, row_sha256 FROM institution_versions
                WHERE (code, effective_date) IN (SELECT * FROM unnest($1::text[], $2::date[]))""",
            [r.code for r in rows if r.code not in new],
            [r.effective_date for r in rows if r.code not in new],
        )
    }
    clashes = [
        (index, row)
        for index, (row, digest) in enumerate(zip(rows, digests, strict=True))
        if row.code not in new and stored.get((row.code, row.effective_date)) != digest
    ]
    if clashes:
        index, row = clashes[0]
        raise AlreadyExists(
            f"row {index + 1}: {row.code} effective {row.effective_date} is already loaded with"
            f" other content ({len(clashes)} such rows): a change takes a new effective date"
        )
    return len(inserted)


async def seed_in(conn: Conn) -> int:
    """In the caller's transaction: store the shipped sample if the registry is empty
    (first start, or an operator's first load before the service ever ran); rows stored."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK)
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM institution_versions)"):
        return 0
    stored = await store_rows(conn, shipped_rows(), "seed")
    log.info("institution registry seeded", rows=stored)
    return stored


async def seed_if_empty(pool: asyncpg.Pool) -> bool:
    """Store the shipped sample if the registry is empty, under an advisory lock so
    replicas starting together seed once."""
    async with pool.acquire(timeout=_DB_TIMEOUT_S) as conn, conn.transaction():
        return await seed_in(conn) > 0
