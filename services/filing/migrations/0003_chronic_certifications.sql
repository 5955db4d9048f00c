-- Chronic/special outpatient disease certifications (门诊慢特病资格认定): which diseases a
-- person's insured pool has certified, from when to when. Written by that pool's agency
-- (AGENCY_DECISION, ACTIVE at once) or applied for by a designated hospital through 2503
-- (HOSPITAL_APPLICATION, PENDING until the agency approves, or ACTIVE at once where the
-- filing policy says so); cancelled through 2504. One row per certification: approval and
-- cancellation update it (each state change also goes out as an event). Times come from
-- the service's clock as parameters: no column defaults to now().
CREATE TABLE chronic_certifications (
    certification_id    text        PRIMARY KEY CHECK (length(certification_id) BETWEEN 1 AND 64),
    psn_no              text        NOT NULL REFERENCES persons,
    certifying_pool     text        NOT NULL CHECK (certifying_pool = left(psn_no, 6)),
    disease_code        text        NOT NULL CHECK (disease_code ~ '^MT[0-9]{2}$'),
    source              text        NOT NULL CHECK (source IN ('AGENCY_DECISION', 'HOSPITAL_APPLICATION')),
    status              text        NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'CANCELLED')),
    valid_from          date        NOT NULL,
    valid_until         date,       -- inclusive; NULL = until cancelled
    hospital_code       text        CHECK (hospital_code ~ '^[HP][0-9]{6}[0-9]{5}$'),
    diagnosis_code      text        CHECK (length(diagnosis_code) BETWEEN 1 AND 20),
    submitted_on        date        NOT NULL,
    approved_on         date,       -- the day it became ACTIVE
    cancelled_on        date,       -- covers treatment up to the day before
    policy_version      text        NOT NULL,
    requested_by        text        NOT NULL,
    channel_request_id  text        NOT NULL,
    approved_by         text,
    cancelled_by        text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK (valid_until IS NULL OR valid_until >= valid_from),
    CHECK ((status = 'CANCELLED') = (cancelled_on IS NOT NULL)),
    CHECK ((status = 'PENDING') = (approved_on IS NULL) OR status = 'CANCELLED'),
    CHECK ((source = 'HOSPITAL_APPLICATION') = (hospital_code IS NOT NULL))
);

-- A caller's request id names one certification (the idempotency key is the first line of
-- defence; this is the second).
CREATE UNIQUE INDEX chronic_certifications_request
    ON chronic_certifications (requested_by, channel_request_id);
-- Coverage: a person's certifications of one disease (one index scan).
CREATE INDEX chronic_certifications_coverage
    ON chronic_certifications (psn_no, disease_code) WHERE status <> 'CANCELLED';
-- A person's certifications, newest first.
CREATE INDEX chronic_certifications_by_person
    ON chronic_certifications (psn_no, submitted_on DESC, certification_id DESC);
