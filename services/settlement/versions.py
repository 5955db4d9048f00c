"""Catalogue and policy versions: stored in PostgreSQL, held in memory, reloaded on change.

Versions are immutable rows (a change is a new version with its own effective date). The
service loads them all at start-up and keeps them in memory, because every fee line of
every settlement is classified against them: reading them per request would cost a round
trip per settlement. An operator's new version reaches every replica through
LISTEN/NOTIFY (the insert trigger), with a periodic version check as the fallback when a
notification is missed (a dropped LISTEN connection, a restarted database).

On first start, when both tables are empty, the shipped seed files are stored, in one
transaction under an advisory lock so replicas starting together seed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import asyncpg
import structlog

from services.settlement.domain.catalogue import Catalogue, select_catalogue
from services.settlement.domain.policy import BenefitPolicy, select_policy
from services.settlement.domain.seed import load_catalogues, load_policies
from shared import clock
from shared.bus.pg import Conn, is_open
from shared.errors import AlreadyExists, FailedPrecondition, NotFound
from shared.faults import describe, is_transient

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL: Final = "settlement_reference"  # the trigger's "<schema>_reference"
POLL_INTERVAL_S: Final = 30.0
VERSIONS_MAX: Final = 1_000  # per table: decades of monthly versions for every province
_SEED_LOCK: Final = 0x63630053  # advisory-lock key of the seeding transaction
_DB_TIMEOUT_S: Final = 10.0


def _canonical(body: dict[str, Any]) -> tuple[str, str]:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()


# --- writing versions (seed, operator) -------------------------------------------------


async def store_catalogue(conn: Conn, catalogue: Catalogue, loaded_by: str) -> bool:
    """Store a version; False if that exact version is stored already."""
    text, digest = _canonical(catalogue.to_dict())
    inserted = await conn.fetchval(
        """INSERT INTO catalogue_versions
               (version_id, province_code, effective_date, body, body_sha256, item_count,
                loaded_by, loaded_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
           ON CONFLICT (version_id) DO NOTHING RETURNING true""",
        catalogue.version_id,
        catalogue.province_code,
        catalogue.effective_date,
        text,
        digest,
        len(catalogue.items),
        loaded_by,
        clock.now(),
    )
    return await _new_or_same(conn, inserted, "catalogue_versions", catalogue.version_id, digest)


async def store_policy(conn: Conn, policy: BenefitPolicy, loaded_by: str) -> bool:
    text, digest = _canonical(policy.to_dict())
    inserted = await conn.fetchval(
        """INSERT INTO policy_versions
               (version_id, policy_id, effective_date, pool_codes, body, body_sha256, loaded_by,
                loaded_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
           ON CONFLICT (version_id) DO NOTHING RETURNING true""",
        policy.version_id,
        policy.policy_id,
        policy.effective_date,
        list(policy.pool_codes),
        text,
        digest,
        loaded_by,
        clock.now(),
    )
    return await _new_or_same(conn, inserted, "policy_versions", policy.version_id, digest)


async def _new_or_same(
    conn: Conn, inserted: bool | None, table: str, version_id: str, digest: str
) -> bool:
    """True for a version just inserted; False for one stored already with the same
    content. Versions are immutable: settlements name them, so a version id means one
    content, and other content under a stored id is refused."""
    if inserted:
        return True
    stored = await conn.fetchval(
        f"SELECT body_sha256 FROM {table} WHERE version_id = $1",  # table is ours, not input
        version_id,
    )
    if stored != digest:
        raise AlreadyExists(
            f"version {version_id} is already loaded with other content: give it a new version id"
        )
    return False


async def seed_if_empty(pool: asyncpg.Pool) -> bool:
    """Store the shipped seed versions if no version is stored yet (first start)."""
    async with pool.acquire(timeout=_DB_TIMEOUT_S) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK)
        stored = await conn.fetchval(
            "SELECT (SELECT count(*) FROM catalogue_versions) + (SELECT count(*) FROM policy_versions)"
        )
        if stored:
            return False
        for catalogue in load_catalogues():
            await store_catalogue(conn, catalogue, "seed")
        for policy in load_policies():
            await store_policy(conn, policy, "seed")
    log.info(
        "reference versions seeded",
        catalogues=len(load_catalogues()),
        policies=len(load_policies()),
    )
    return True


# --- reading versions -----------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    catalogues: tuple[Catalogue, ...]
    policies: tuple[BenefitPolicy, ...]
    generation: tuple[int, int]  # stored counts: versions are only ever added


class ReloadOnNotify:
    """Reference data held in memory: reloaded on every NOTIFY of the reference tables
    (``reference_notify``), else every poll interval. Subclasses say how to reload."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()

    async def reload(self, pool: asyncpg.Pool) -> bool:
        raise NotImplementedError

    async def watch(self, pool: asyncpg.Pool, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        """Reload on every NOTIFY of the version tables, else every poll_interval_s."""
        assert 0 < poll_interval_s <= 3600, poll_interval_s
        listener = None
        try:
            while True:
                if listener is None or not is_open(listener):
                    listener = await self._listen(pool, listener)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), poll_interval_s)
                self._wake.clear()
                try:
                    await self.reload(pool)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    # The versions in memory stay valid; the next wake or poll retries.
                    log.warning("reference reload failed", fault=describe(exc))
        finally:
            if listener is not None:
                await self._release(pool, listener)

    async def _release(self, pool: asyncpg.Pool, conn: Any) -> None:
        # A broken connection cannot UNLISTEN; the pool discards it on release anyway.
        with contextlib.suppress(Exception):
            if is_open(conn):
                await conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await pool.release(conn, timeout=_DB_TIMEOUT_S)

    async def _listen(self, pool: asyncpg.Pool, old: Any) -> Any:
        if old is not None:
            await self._release(pool, old)
        try:
            conn = await pool.acquire(timeout=_DB_TIMEOUT_S)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Polling alone still picks up every version, only later.
            log.warning("reference listen unavailable, polling", fault=describe(exc))
            return None
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except Exception as exc:
            await self._release(pool, conn)
            if not is_transient(exc):
                raise
            log.warning("reference listen failed, polling", fault=describe(exc))
            return None
        self._wake.set()  # a version may have been stored while nobody listened
        return conn

    def _on_notify(self, *_: object) -> None:
        self._wake.set()


class ReloadTogether(ReloadOnNotify):
    """Several in-memory reference sets behind one listening connection: every wake
    reloads each (a set whose tables did not change answers with one count query)."""

    def __init__(self, *parts: ReloadOnNotify) -> None:
        super().__init__()
        self._parts = parts

    async def reload(self, pool: asyncpg.Pool) -> bool:
        changed = [await part.reload(pool) for part in self._parts]
        return any(changed)


class Versions(ReloadOnNotify):
    """The versions in effect for this process; replaced whole, so a request sees one set."""

    def __init__(self) -> None:
        super().__init__()
        self._snapshot = Snapshot((), (), (-1, -1))

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def catalogue_for(self, province_code: str, on_date: date) -> Catalogue:
        try:
            return select_catalogue(self._snapshot.catalogues, province_code, on_date)
        except NotFound as exc:
            raise FailedPrecondition("NO_CATALOGUE_IN_EFFECT", exc.message) from None

    def policy_for(self, insured_pool: str, on_date: date) -> BenefitPolicy:
        try:
            return select_policy(self._snapshot.policies, insured_pool, on_date)
        except NotFound as exc:
            raise FailedPrecondition("NO_POLICY_IN_EFFECT", exc.message) from None

    async def reload(self, pool: asyncpg.Pool) -> bool:
        """Load new versions if any were stored since the last load; True if it did."""
        async with pool.acquire(timeout=_DB_TIMEOUT_S) as conn:
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM catalogue_versions) AS c,"
                " (SELECT count(*) FROM policy_versions) AS p"
            )
            assert counts is not None
            generation = (int(counts["c"]), int(counts["p"]))
            if generation == self._snapshot.generation:
                return False
            assert max(generation) <= VERSIONS_MAX, generation
            known_c = {c.version_id: c for c in self._snapshot.catalogues}
            known_p = {p.version_id: p for p in self._snapshot.policies}
            catalogues = [
                known_c.get(r["version_id"]) or Catalogue.from_dict(json.loads(r["body"]))
                for r in await conn.fetch("SELECT version_id, body FROM catalogue_versions")
            ]
            policies = [
                known_p.get(r["version_id"]) or BenefitPolicy.from_dict(json.loads(r["body"]))
                for r in await conn.fetch("SELECT version_id, body FROM policy_versions")
            ]
        self._snapshot = Snapshot(tuple(catalogues), tuple(policies), generation)
        log.info(
            "reference versions loaded",
            catalogues=sorted(c.version_id for c in catalogues),
            policies=sorted(p.version_id for p in policies),
        )
        return True
