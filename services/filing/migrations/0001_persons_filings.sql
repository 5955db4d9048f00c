-- Persons and their out-of-area treatment filings (备案). Names are unqualified: the
-- service's schema is the search_path.

-- A person as the insured pool's agency keeps them. The person number starts with the
-- insured pool code, so the pool can never change under it.
CREATE TABLE persons (
    psn_no               text        PRIMARY KEY CHECK (psn_no ~ '^[0-9]{6}[0-9A-Z]{4,24}$'),
    name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    phone                text        CHECK (length(phone) BETWEEN 1 AND 20),
    insured_pool         text        NOT NULL CHECK (insured_pool = left(psn_no, 6)),
    insutype             text        NOT NULL CHECK (insutype IN ('310', '390')),
    person_type          text        NOT NULL CHECK (person_type IN ('IN_SERVICE', 'RETIRED')),
    assistance_category  text        NOT NULL,
    sex                  text        NOT NULL CHECK (sex IN ('MALE', 'FEMALE')),
    birth_date           date        NOT NULL,
    -- Employees only: the year-opening personal-account balance credited by the pool.
    acct_balance_fen     bigint      NOT NULL CHECK (acct_balance_fen BETWEEN 0 AND 10000000000),
    revision             integer     NOT NULL DEFAULT 1 CHECK (revision >= 1),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (insutype = '310' OR acct_balance_fen = 0)
);

-- Identity documents: each (type, number) identifies exactly one person, so a hospital's
-- 1101 lookup by resident ID or e-voucher token finds one record or none.
CREATE TABLE person_documents (
    doc_type  text     NOT NULL,
    number    text     NOT NULL CHECK (length(number) BETWEEN 1 AND 64),
    psn_no    text     NOT NULL REFERENCES persons ON DELETE CASCADE,
    position  smallint NOT NULL CHECK (position BETWEEN 0 AND 15),
    PRIMARY KEY (doc_type, number),
    UNIQUE (psn_no, doc_type)
);

-- One row per version of a filing. A change adds a version and either closes the
-- previous one the day before (status SUPERSEDED, still in force for its own dates) or,
-- when the change covers the whole validity, takes it out of force. A cancellation adds
-- a version with status CANCELLED. Coverage reads the versions in force.
CREATE TABLE filings (
    filing_id               text        NOT NULL CHECK (length(filing_id) BETWEEN 1 AND 64),
    version                 integer     NOT NULL CHECK (version >= 1),
    psn_no                  text        NOT NULL REFERENCES persons,
    insured_pool            text        NOT NULL CHECK (insured_pool = left(psn_no, 6)),
    destination_pool        text        CHECK (destination_pool ~ '^[0-9]{6}$'),
    destination_province    text        CHECK (destination_province ~ '^[0-9]{2}$'),
    category                text        NOT NULL,
    channel                 text        NOT NULL CHECK (channel IN ('APP', 'MINI_PROGRAM', 'WEB', 'COUNTER')),
    status                  text        NOT NULL CHECK (status IN ('ACTIVE', 'SUPERSEDED', 'CANCELLED')),
    valid_from              date        NOT NULL,
    valid_until             date,       -- inclusive; NULL = long-term, until cancelled
    cancelled_on            date,       -- covers treatment up to the day before
    submitted_on            date        NOT NULL,
    referring_hospital_code text,
    referral_hospital_code  text,
    diagnosis_code          text,
    diagnosis_name          text,
    policy_version          text        NOT NULL,
    is_current              boolean     NOT NULL,
    in_force                boolean     NOT NULL,
    -- The request that made this version: its channel, caller, id and reason.
    request_channel         text        NOT NULL,
    requested_by            text        NOT NULL,
    channel_request_id      text        NOT NULL,
    change_reason           text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (filing_id, version),
    CHECK ((destination_pool IS NULL) <> (destination_province IS NULL)),
    CHECK (valid_until IS NULL OR valid_until >= valid_from),
    CHECK (is_current <= in_force),
    CHECK ((status = 'CANCELLED') = (cancelled_on IS NOT NULL)),
    CHECK ((referral_hospital_code IS NULL) = (category <> 'REFERRAL'))
);

-- Exactly one current version per filing.
CREATE UNIQUE INDEX filings_current ON filings (filing_id) WHERE is_current;
-- A channel's submission id names one filing (the idempotency key is the first line of
-- defence; this is the second).
CREATE UNIQUE INDEX filings_channel_request
    ON filings (channel, requested_by, channel_request_id) WHERE version = 1;
-- Coverage: a person's versions in force for one treatment place (one index scan).
CREATE INDEX filings_coverage
    ON filings (psn_no, destination_pool, destination_province) WHERE in_force;
-- A person's filings, newest first (ListFilings pages by keyset).
CREATE INDEX filings_by_person
    ON filings (psn_no, submitted_on DESC, filing_id DESC) WHERE is_current;
-- Channel figures: submissions by date, then insured pool.
CREATE INDEX filings_submissions ON filings (submitted_on, insured_pool) WHERE version = 1;
