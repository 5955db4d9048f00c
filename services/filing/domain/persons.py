"""An insured person's record, as the insured pool's agency supplies it.

The person number (psn_no) is the insured pool's own number for the person: the 6-digit
pool code followed by 4–24 digits or upper-case letters. Because the pool code leads it,
a person's insured pool is known from the number alone and can never change; a person
who moves their insurance to another pool gets a new number there.

Sex and birth date are facts of an 18-character resident ID or residence permit; when
the person holds one they are taken from it (values sent must agree), otherwise they
are required. Every bad field is reported at once, named by its path in the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.filing.domain.dates import parse_iso_date
from shared.errors import InvalidArgument, Violations
from shared.identity import (
    EIGHTEEN_CHAR_TYPES,
    MIN_BIRTH_YEAR,
    DocumentType,
    birth_date_of,
    sex_of,
    validate_document,
)
from shared.reference import is_pool
from shared.vocabulary import AssistanceCategory as AssistanceCategory
from shared.vocabulary import Insutype as Insutype
from shared.vocabulary import PersonType as PersonType
from shared.vocabulary import Sex as Sex

PSN_NO_RE = re.compile(r"(\d{6})[0-9A-Z]{4,24}")
MAX_PSN_NO_CHARS = 30
MAX_NAME_CHARS = 50
PHONE_RE = re.compile(r"\+?\d[\d -]{4,19}")
MAX_PHONE_CHARS = 20
MAX_DOCUMENTS = len(DocumentType)  # at most one of each type
# 100 million yuan: far above any personal account; a larger figure is a data error.
MAX_ACCT_BALANCE_FEN = 10_000_000_000


@dataclass(frozen=True)
class IdentityDocument:
    doc_type: DocumentType
    number: str  # normalised by shared.identity.validate_document


@dataclass(frozen=True)
class PersonDraft:
    """A person as received; None marks an unset or unknown enum value."""

    psn_no: str
    name: str
    phone: str
    documents: tuple[tuple[DocumentType | None, str], ...]
    insured_pool: str
    insutype: Insutype | None
    person_type: PersonType | None
    assistance_category: AssistanceCategory | None
    sex: Sex | None
    birth_date: str  # YYYY-MM-DD or empty
    acct_balance_fen: int


@dataclass(frozen=True)
class Person:
    psn_no: str
    name: str
    phone: str | None
    documents: tuple[IdentityDocument, ...]
    insured_pool: str
    insutype: Insutype
    person_type: PersonType
    assistance_category: AssistanceCategory
    sex: Sex
    birth_date: date
    acct_balance_fen: int
    revision: int = 0  # 0 until stored; 1 on creation, +1 on every upsert

    def __post_init__(self) -> None:
        assert insured_pool_of(self.psn_no) == self.insured_pool, "psn_no starts with the pool"
        assert 0 < len(self.documents) <= MAX_DOCUMENTS, len(self.documents)
        assert 0 <= self.acct_balance_fen <= MAX_ACCT_BALANCE_FEN, self.acct_balance_fen
        assert self.revision >= 0, self.revision


def insured_pool_of(psn_no: str) -> str | None:
    """The insured pool a well-formed person number names; None for a malformed one."""
    if len(psn_no) > MAX_PSN_NO_CHARS:
        return None
    match = PSN_NO_RE.fullmatch(psn_no)
    return match.group(1) if match else None


def check_psn_no(v: Violations, psn_no: str, field: str = "psn_no") -> str | None:
    """The insured pool of a well-formed person number, or None after adding a violation."""
    pool = insured_pool_of(psn_no)
    if pool is None:
        v.add(field, "a person number is the 6-digit pool code and 4–24 digits or A–Z")
    return pool


def validate_person(draft: PersonDraft, today: date, prefix: str = "person.") -> Person:
    """The person to store, or InvalidArgument naming every bad field (under ``prefix``)."""
    v = Violations()
    _check_identity_fields(v, draft, prefix)
    documents = _check_documents(v, draft.documents, today, prefix)
    sex, birth = _sex_and_birth(v, draft, documents, today, prefix)
    _check_insurance(v, draft, prefix)
    v.raise_if_any()
    assert draft.insutype and draft.person_type and draft.assistance_category
    assert sex is not None and birth is not None
    return Person(
        psn_no=draft.psn_no,
        name=draft.name.strip(),
        phone=draft.phone.strip() or None,
        documents=documents,
        insured_pool=draft.insured_pool,
        insutype=draft.insutype,
        person_type=draft.person_type,
        assistance_category=draft.assistance_category,
        sex=sex,
        birth_date=birth,
        acct_balance_fen=draft.acct_balance_fen,
    )


def _check_identity_fields(v: Violations, draft: PersonDraft, prefix: str) -> None:
    pool = check_psn_no(v, draft.psn_no, f"{prefix}psn_no")
    known_pool = is_pool(draft.insured_pool)
    v.check(known_pool, f"{prefix}insured_pool", "unknown pool code")
    if pool is not None and known_pool:
        v.check(pool == draft.insured_pool, f"{prefix}psn_no", "must start with insured_pool")
    name = draft.name.strip()
    v.check(0 < len(name) <= MAX_NAME_CHARS, f"{prefix}name", f"1–{MAX_NAME_CHARS} characters")
    v.check(name.isprintable(), f"{prefix}name", "contains control characters")
    phone = draft.phone.strip()
    if phone:
        v.check(
            len(phone) <= MAX_PHONE_CHARS and PHONE_RE.fullmatch(phone) is not None,
            f"{prefix}phone",
            "a phone number is digits, spaces or hyphens, optionally after +",
        )


def _check_documents(
    v: Violations,
    documents: tuple[tuple[DocumentType | None, str], ...],
    today: date,
    prefix: str,
) -> tuple[IdentityDocument, ...]:
    if not 0 < len(documents) <= MAX_DOCUMENTS:
        v.add(f"{prefix}documents", f"1–{MAX_DOCUMENTS} identity documents, one of each type")
        return ()
    valid: list[IdentityDocument] = []
    seen: set[DocumentType] = set()
    for index, (doc_type, number) in enumerate(documents):
        field = f"{prefix}documents[{index}]"
        if doc_type is None:
            v.add(f"{field}.type", "unknown document type")
            continue
        if doc_type in seen:
            v.add(f"{field}.type", "a person holds at most one document of each type")
            continue
        seen.add(doc_type)
        try:
            normalised = validate_document(doc_type, number, f"{field}.number", today=today)
        except InvalidArgument as error:
            v.items.extend(error.violations)
            continue
        valid.append(IdentityDocument(doc_type, normalised))
    return tuple(valid)


def _sex_and_birth(
    v: Violations,
    draft: PersonDraft,
    documents: tuple[IdentityDocument, ...],
    today: date,
    prefix: str,
) -> tuple[Sex | None, date | None]:
    birth = parse_iso_date(v, f"{prefix}birth_date", draft.birth_date, required=False)
    eighteen = next((d for d in documents if d.doc_type in EIGHTEEN_CHAR_TYPES), None)
    if eighteen is not None:
        derived_sex, derived_birth = sex_of(eighteen.number), birth_date_of(eighteen.number)
        mismatch = "does not match the 18-character identity document"
        v.check(draft.sex in (None, derived_sex), f"{prefix}sex", mismatch)
        v.check(birth in (None, derived_birth), f"{prefix}birth_date", mismatch)
        return derived_sex, derived_birth
    if not draft.documents or any(t in EIGHTEEN_CHAR_TYPES for t, _ in draft.documents):
        # The documents are missing or the 18-character one is bad, and that is reported;
        # asking for what it would have given too only adds noise.
        return draft.sex, birth
    v.check(draft.sex is not None, f"{prefix}sex", "required without a resident ID or permit")
    if not draft.birth_date:
        v.add(f"{prefix}birth_date", "required without a resident ID or permit")
    elif birth is not None:
        v.check(birth <= today, f"{prefix}birth_date", "is in the future")
        v.check(birth.year >= MIN_BIRTH_YEAR, f"{prefix}birth_date", f"before {MIN_BIRTH_YEAR}")
    return draft.sex, birth


def _check_insurance(v: Violations, draft: PersonDraft, prefix: str) -> None:
    v.check(draft.insutype is not None, f"{prefix}insutype", "310 (employee) or 390 (resident)")
    v.check(draft.person_type is not None, f"{prefix}person_type", "IN_SERVICE or RETIRED")
    v.check(
        draft.assistance_category is not None,
        f"{prefix}assistance_category",
        "required: NONE for a person in no assistance category",
    )
    balance = draft.acct_balance_fen
    field = f"{prefix}acct_balance_fen"
    if not 0 <= balance <= MAX_ACCT_BALANCE_FEN:
        v.add(field, f"must be 0–{MAX_ACCT_BALANCE_FEN} fen")
    elif balance and draft.insutype is Insutype.RESIDENT:
        v.add(field, "only employees (310) have a personal account")
