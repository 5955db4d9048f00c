"""PostgreSQL access for persons and filings: SQL only, no rules.

Every function takes a connection and does its statements on it; transactions are the
caller's (``service``). Rows come back as domain values.

Round trips that matter: a coverage check is ONE statement (the person, their documents
and their filings in force for the treatment place, as row arrays); a submission is
claim + lock + insert + outbox + complete, five statements in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from services.filing.domain import (
    Channel,
    Destination,
    Filing,
    FilingCategory,
    FilingStatus,
    ReferralDetails,
)
from services.filing.domain.chronic import (
    MAX_CERTIFICATIONS_PER_PERSON,
    CertificationSource,
    CertificationStatus,
    ChronicCertification,
)
from services.filing.domain.coverage import MAX_FILINGS_CONSIDERED
from services.filing.domain.persons import (
    AssistanceCategory,
    IdentityDocument,
    Insutype,
    Person,
    PersonType,
)
from shared import clock
from shared.bus.pg import Conn
from shared.errors import FailedPrecondition, NotFound
from shared.identity import DocumentType
from shared.records import record_from
from shared.vocabulary import Sex

# Coverage reads a person's versions in force (at most MAX_FILINGS_CONSIDERED, the most
# the rules consider); a write that would add one beyond that is refused. Cancelling
# never adds one (it replaces the current version), so it is never refused for this.
MAX_IN_FORCE_VERSIONS = MAX_FILINGS_CONSIDERED
MAX_PAGE_SIZE = 100
REASON_FILING_LIMIT = "FILING_LIMIT_REACHED"
REASON_DOCUMENT_HELD = "DOCUMENT_HELD_BY_ANOTHER_PERSON"


@dataclass(frozen=True)
class StoredFiling:
    psn_no: str
    filing: Filing


@dataclass(frozen=True)
class LockedPerson:
    """A person's row, locked for the transaction, and their versions in force."""

    psn_no: str
    insured_pool: str
    in_force_versions: int


@dataclass(frozen=True)
class RequestMeta:
    """The request that writes a version: who sent it, through which channel, why."""

    channel: Channel
    requested_by: str
    channel_request_id: str
    change_reason: str | None = None
    # The end user a channel acted for (person:<psn_no> or staff:<pool>:<id>), else the
    # caller itself: every version records who made it.
    acted_by: str = ""


# -- persons ---------------------------------------------------------------------------

_PERSON_WITH_DOCUMENTS = """
SELECT p.*,
       ARRAY(SELECT d FROM person_documents d WHERE d.psn_no = p.psn_no
              ORDER BY d.position) AS documents
  FROM persons p
"""

_UPSERT_PERSON = """
INSERT INTO persons (psn_no, name, phone, insured_pool, insutype, person_type,
                     assistance_category, sex, birth_date, acct_balance_fen, created_at,
                     updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
ON CONFLICT (psn_no) DO UPDATE SET
    name = EXCLUDED.name, phone = EXCLUDED.phone, insutype = EXCLUDED.insutype,
    person_type = EXCLUDED.person_type, assistance_category = EXCLUDED.assistance_category,
    sex = EXCLUDED.sex, birth_date = EXCLUDED.birth_date,
    acct_balance_fen = EXCLUDED.acct_balance_fen,
    revision = persons.revision + 1, updated_at = EXCLUDED.updated_at
RETURNING revision
"""

_DOCUMENTS_HELD_ELSEWHERE = """
SELECT u.position
  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(doc_type, number, position)
  JOIN person_documents d ON d.doc_type = u.doc_type AND d.number = u.number
 WHERE d.psn_no <> $1
 ORDER BY u.position
"""

_INSERT_DOCUMENTS = """
INSERT INTO person_documents (doc_type, number, psn_no, position)
SELECT u.doc_type, u.number, $1, u.position - 1
  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(doc_type, number, position)
ON CONFLICT DO NOTHING
"""


def _document_of(row: Any) -> IdentityDocument:
    return IdentityDocument(DocumentType(row["doc_type"]), row["number"])


def person_of(row: Any) -> Person:
    return Person(
        psn_no=row["psn_no"],
        name=row["name"],
        phone=row["phone"],
        documents=tuple(_document_of(d) for d in row["documents"]),
        insured_pool=row["insured_pool"],
        insutype=Insutype(row["insutype"]),
        person_type=PersonType(row["person_type"]),
        assistance_category=AssistanceCategory(row["assistance_category"]),
        sex=Sex(row["sex"]),
        birth_date=row["birth_date"],
        acct_balance_fen=row["acct_balance_fen"],
        revision=row["revision"],
    )


async def documents_held_elsewhere(conn: Conn, person: Person) -> list[int]:
    """Positions (0-based) of the person's documents registered to another person."""
    types, numbers = _document_columns(person.documents)
    rows = await conn.fetch(_DOCUMENTS_HELD_ELSEWHERE, person.psn_no, types, numbers)
    return [int(row["position"]) - 1 for row in rows]


def _document_columns(documents: Sequence[IdentityDocument]) -> tuple[list[str], list[str]]:
    return [d.doc_type.value for d in documents], [d.number for d in documents]


async def upsert_person(conn: Conn, person: Person) -> Person:
    """Create or replace the person and their documents; the stored person (with revision)."""
    assert conn.is_in_transaction(), "a person and their documents change together"
    revision = await conn.fetchval(
        _UPSERT_PERSON,
        person.psn_no,
        person.name,
        person.phone,
        person.insured_pool,
        person.insutype.value,
        person.person_type.value,
        person.assistance_category.value,
        person.sex.value,
        person.birth_date,
        person.acct_balance_fen,
        clock.now(),
    )
    await conn.execute("DELETE FROM person_documents WHERE psn_no = $1", person.psn_no)
    types, numbers = _document_columns(person.documents)
    status = await conn.execute(_INSERT_DOCUMENTS, person.psn_no, types, numbers)
    if status != f"INSERT 0 {len(person.documents)}":
        # Checked just before, so another person took a document in the meantime.
        raise FailedPrecondition(
            REASON_DOCUMENT_HELD, "an identity document is registered to another person"
        )
    return replace(person, revision=int(revision))


async def get_person(conn: Conn, psn_no: str) -> Person:
    row = await conn.fetchrow(_PERSON_WITH_DOCUMENTS + " WHERE p.psn_no = $1", psn_no)
    if row is None:
        raise NotFound(f"no person {psn_no}")
    return person_of(row)


async def find_person_by_document(conn: Conn, document: IdentityDocument) -> Person | None:
    row = await conn.fetchrow(
        _PERSON_WITH_DOCUMENTS
        + " WHERE p.psn_no = (SELECT psn_no FROM person_documents"
        + " WHERE doc_type = $1 AND number = $2)",
        document.doc_type.value,
        document.number,
    )
    return None if row is None else person_of(row)


async def lock_person(conn: Conn, psn_no: str, *, adds_in_force: bool) -> LockedPerson:
    """Lock the person's row: one writer of their filings at a time (→ NotFound).

    ``adds_in_force``: the write may add a version in force, so there must be room.
    """
    assert conn.is_in_transaction(), "a lock outside a transaction is released at once"
    row = await conn.fetchrow(
        """SELECT p.psn_no, p.insured_pool,
                  (SELECT count(*) FROM filings f
                    WHERE f.psn_no = p.psn_no AND f.in_force) AS in_force_versions
             FROM persons p WHERE p.psn_no = $1
              FOR NO KEY UPDATE OF p""",
        psn_no,
    )
    if row is None:
        raise NotFound(f"no person {psn_no}")
    locked = LockedPerson(row["psn_no"], row["insured_pool"], int(row["in_force_versions"]))
    if adds_in_force and locked.in_force_versions >= MAX_IN_FORCE_VERSIONS:
        raise FailedPrecondition(
            REASON_FILING_LIMIT,
            f"the person holds {locked.in_force_versions} filing versions in force, "
            "the most one person may",
        )
    return locked


# -- filings ---------------------------------------------------------------------------

_INSERT_FILING = """
INSERT INTO filings (
    filing_id, version, psn_no, insured_pool, destination_pool, destination_province,
    category, channel, status, valid_from, valid_until, cancelled_on, submitted_on,
    referring_hospital_code, referral_hospital_code, diagnosis_code, diagnosis_name,
    policy_version, is_current, in_force, request_channel, requested_by,
    channel_request_id, change_reason, created_at, acted_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        true, true, $19, $20, $21, $22, $23, $24)
"""

# The previous version leaves the current slot: closed (still in force for its own
# dates) or taken out of force when the new version covers its whole validity.
_RETIRE_CURRENT = """
UPDATE filings SET is_current = false, in_force = $3, status = $4, valid_until = $5
 WHERE filing_id = $1 AND version = $2 AND is_current
"""


def stored_filing_of(row: Any) -> StoredFiling:
    referral = None
    if row["referral_hospital_code"] is not None:
        referral = ReferralDetails(
            referring_hospital_code=row["referring_hospital_code"],
            hospital_code=row["referral_hospital_code"],
            diagnosis_code=row["diagnosis_code"],
            diagnosis_name=row["diagnosis_name"],
        )
    filing = Filing(
        filing_id=row["filing_id"],
        insured_pool=row["insured_pool"],
        destination=Destination(row["destination_pool"], row["destination_province"]),
        category=FilingCategory(row["category"]),
        channel=Channel(row["channel"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        submitted_on=row["submitted_on"],
        status=FilingStatus(row["status"]),
        cancelled_on=row["cancelled_on"],
        referral=referral,
        version=row["version"],
        policy_version=row["policy_version"],
    )
    return StoredFiling(row["psn_no"], filing)


async def insert_filing(conn: Conn, psn_no: str, filing: Filing, meta: RequestMeta) -> None:
    """Insert a version as the filing's current one (the previous must be retired first)."""
    assert conn.is_in_transaction(), "a filing is written with its event and idempotency key"
    referral = filing.referral
    await conn.execute(
        _INSERT_FILING,
        filing.filing_id,
        filing.version,
        psn_no,
        filing.insured_pool,
        filing.destination.pool_code,
        filing.destination.province_code,
        filing.category.value,
        filing.channel.value,
        filing.status.value,
        filing.valid_from,
        filing.valid_until,
        filing.cancelled_on,
        filing.submitted_on,
        referral.referring_hospital_code if referral else None,
        referral.hospital_code if referral else None,
        referral.diagnosis_code if referral else None,
        referral.diagnosis_name if referral else None,
        filing.policy_version,
        meta.channel.value,
        meta.requested_by,
        meta.channel_request_id,
        meta.change_reason,
        clock.now(),
        meta.acted_by or meta.requested_by,
    )


async def retire_current(conn: Conn, current: Filing, closed: Filing | None) -> None:
    """Take ``current`` out of the current slot: closed as ``closed``, or out of force."""
    assert conn.is_in_transaction(), "a version is retired together with its successor"
    if closed is None:
        args = (False, current.status.value, current.valid_until)
    else:
        assert closed.version == current.version, "the closed version is the current one"
        args = (True, closed.status.value, closed.valid_until)
    status = await conn.execute(_RETIRE_CURRENT, current.filing_id, current.version, *args)
    # The person's row is locked and the version was read in this transaction.
    assert status == "UPDATE 1", status


async def lock_current_filing(
    conn: Conn, filing_id: str, *, adds_in_force: bool
) -> tuple[LockedPerson, StoredFiling]:
    """Lock the filing's person, then read the current version (→ NotFound).

    Reading after the lock, in a statement of its own, sees the versions written by the
    transaction we may have waited for: a concurrent change is applied on top of the
    other, never beside it.
    """
    psn_no = await conn.fetchval(
        "SELECT psn_no FROM filings WHERE filing_id = $1 AND version = 1", filing_id
    )
    if psn_no is None:
        raise NotFound(f"no filing {filing_id}")
    person = await lock_person(conn, psn_no, adds_in_force=adds_in_force)
    row = await conn.fetchrow(
        "SELECT * FROM filings WHERE filing_id = $1 AND is_current", filing_id
    )
    assert row is not None, "every filing has a current version"
    return person, stored_filing_of(row)


async def get_filing(conn: Conn, filing_id: str, version: int) -> StoredFiling:
    """A version of a filing; version 0 is the current one (→ NotFound)."""
    if version == 0:
        row = await conn.fetchrow(
            "SELECT * FROM filings WHERE filing_id = $1 AND is_current", filing_id
        )
    else:
        row = await conn.fetchrow(
            "SELECT * FROM filings WHERE filing_id = $1 AND version = $2", filing_id, version
        )
    if row is None:
        raise NotFound(f"no filing {filing_id}" + (f" version {version}" if version else ""))
    return stored_filing_of(row)


@dataclass(frozen=True)
class PageKey:
    """Where a page of a person's filings starts: after this (submitted_on, filing_id)."""

    submitted_on: date
    filing_id: str


async def list_filings(
    conn: Conn, psn_no: str, after: PageKey | None, page_size: int
) -> tuple[list[StoredFiling], PageKey | None]:
    """Current versions, newest first; the key of the next page, if there is one."""
    assert 1 <= page_size <= MAX_PAGE_SIZE, page_size
    rows = await conn.fetch(
        """SELECT * FROM filings
            WHERE psn_no = $1 AND is_current
              AND ($2::date IS NULL OR (submitted_on, filing_id) < ($2, $3))
            ORDER BY submitted_on DESC, filing_id DESC
            LIMIT $4""",
        psn_no,
        after.submitted_on if after else None,
        after.filing_id if after else "",
        page_size + 1,
    )
    page = [stored_filing_of(row) for row in rows[:page_size]]
    if len(rows) <= page_size:
        return page, None
    last = page[-1].filing
    return page, PageKey(last.submitted_on, last.filing_id)


# -- coverage --------------------------------------------------------------------------

_COVERAGE_SNAPSHOT = f"""
SELECT p.*,
       ARRAY(SELECT d FROM person_documents d WHERE d.psn_no = p.psn_no
              ORDER BY d.position) AS documents,
       ARRAY(SELECT f FROM filings f
              WHERE f.psn_no = p.psn_no AND f.in_force
                AND (f.destination_pool = $2 OR f.destination_province = $3)
              ORDER BY f.valid_from DESC, f.filing_id, f.version
              LIMIT {MAX_FILINGS_CONSIDERED + 1}) AS filings,
       ARRAY(SELECT c FROM chronic_certifications c
              WHERE c.psn_no = p.psn_no AND c.disease_code = $4 AND c.status <> 'CANCELLED'
              ORDER BY c.valid_from, c.certification_id
              LIMIT {MAX_CERTIFICATIONS_PER_PERSON}) AS certifications
  FROM persons p
 WHERE p.psn_no = $1
"""


async def coverage_snapshot(
    conn: Conn,
    psn_no: str,
    treatment_pool: str,
    treatment_province: str,
    chronic_disease_code: str | None = None,
) -> tuple[Person, list[Filing], list[ChronicCertification]]:
    """The person, their filings in force for the place and their standing certifications
    of ``chronic_disease_code`` (none when None), in one statement (→ NotFound)."""
    row = await conn.fetchrow(
        _COVERAGE_SNAPSHOT, psn_no, treatment_pool, treatment_province, chronic_disease_code
    )
    if row is None:
        raise NotFound(f"no person {psn_no}")
    filings = [stored_filing_of(f).filing for f in row["filings"]]
    # Writers stop at MAX_IN_FORCE_VERSIONS, so the limit is never what cuts the list.
    assert len(filings) <= MAX_FILINGS_CONSIDERED, len(filings)
    certifications = [certification_of(c) for c in row["certifications"]]
    return person_of(row), filings, certifications


# -- channel figures -------------------------------------------------------------------


async def count_submissions(
    conn: Conn, start: date, end: date, region: str | None
) -> dict[Channel, int]:
    """Filings submitted per channel from ``start`` to ``end`` inclusive, by insured region."""
    rows = await conn.fetch(
        """SELECT channel, count(*) AS filings FROM filings
            WHERE version = 1 AND submitted_on BETWEEN $1 AND $2
              AND ($3::text IS NULL OR starts_with(insured_pool, $3))
            GROUP BY channel""",
        start,
        end,
        region,
    )
    return {Channel(row["channel"]): int(row["filings"]) for row in rows}


# -- chronic/special disease certifications --------------------------------------------

_INSERT_CERTIFICATION = """
INSERT INTO chronic_certifications (
    certification_id, psn_no, certifying_pool, disease_code, source, status, valid_from,
    valid_until, hospital_code, diagnosis_code, submitted_on, approved_on, cancelled_on,
    policy_version, requested_by, channel_request_id, approved_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
"""


def certification_of(row: Any) -> ChronicCertification:
    return record_from(
        ChronicCertification,
        row,
        source=CertificationSource(row["source"]),
        status=CertificationStatus(row["status"]),
    )


async def person_certifications(conn: Conn, psn_no: str) -> list[ChronicCertification]:
    """Every certification of the person, newest first (at most the most one may hold)."""
    rows = await conn.fetch(
        f"""SELECT * FROM chronic_certifications WHERE psn_no = $1
             ORDER BY submitted_on DESC, certification_id DESC
             LIMIT {MAX_CERTIFICATIONS_PER_PERSON}""",
        psn_no,
    )
    return [certification_of(row) for row in rows]


async def insert_certification(
    conn: Conn, certification: ChronicCertification, requested_by: str, channel_request_id: str
) -> None:
    assert conn.is_in_transaction(), "a certification is written with its event and key"
    c = certification
    await conn.execute(
        _INSERT_CERTIFICATION,
        c.certification_id,
        c.psn_no,
        c.certifying_pool,
        c.disease_code,
        c.source.value,
        c.status.value,
        c.valid_from,
        c.valid_until,
        c.hospital_code,
        c.diagnosis_code,
        c.submitted_on,
        c.approved_on,
        c.cancelled_on,
        c.policy_version,
        requested_by,
        channel_request_id,
        requested_by if c.approved_on is not None else None,
        clock.now(),
    )


async def lock_certification(conn: Conn, certification_id: str) -> ChronicCertification:
    """Lock the certification's person, then read it (→ NotFound)."""
    psn_no = await conn.fetchval(
        "SELECT psn_no FROM chronic_certifications WHERE certification_id = $1",
        certification_id,
    )
    if psn_no is None:
        raise NotFound(f"no certification {certification_id}")
    await lock_person(conn, psn_no, adds_in_force=False)
    row = await conn.fetchrow(
        "SELECT * FROM chronic_certifications WHERE certification_id = $1", certification_id
    )
    assert row is not None, "certifications are never deleted"
    return certification_of(row)


async def update_certification(conn: Conn, certification: ChronicCertification, by: str) -> None:
    """Store an approval or a cancellation of a locked certification."""
    assert conn.is_in_transaction(), "a certification is written with its event and key"
    c = certification
    status = await conn.execute(
        """UPDATE chronic_certifications
              SET status = $2, approved_on = $3, cancelled_on = $4,
                  approved_by = CASE WHEN $2 = 'ACTIVE' THEN $5 ELSE approved_by END,
                  cancelled_by = CASE WHEN $2 = 'CANCELLED' THEN $5 ELSE cancelled_by END,
                  updated_at = $6
            WHERE certification_id = $1""",
        c.certification_id,
        c.status.value,
        c.approved_on,
        c.cancelled_on,
        by,
        clock.now(),
    )
    assert status == "UPDATE 1", status
