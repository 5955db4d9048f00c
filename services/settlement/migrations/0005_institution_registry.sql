-- The registry of designated institutions (定点医药机构): hospitals and pharmacies with
-- their pool, kind, level and designation period. Rows are immutable versions: a change
-- (a new level, a withdrawn designation) is a new row with its own effective date, and
-- the row in effect on a day is the one with the latest effective_date on or before it.
CREATE TABLE institution_versions (
    code              text     NOT NULL CHECK (code ~ '^[HP][1-9][0-9]{10}$'),
    effective_date    date     NOT NULL,
    name_zh           text     NOT NULL CHECK (char_length(name_zh) BETWEEN 1 AND 200),
    pool_code         text     NOT NULL CHECK (pool_code = substr(code, 2, 6)),
    kind              text     NOT NULL CHECK (kind IN ('HOSPITAL', 'PHARMACY')),
    level             smallint CHECK (level BETWEEN 1 AND 3),
    designated_from   date     NOT NULL,
    designated_until  date     CHECK (designated_until >= designated_from),
    row_sha256        text     NOT NULL,
    loaded_by         text     NOT NULL,
    loaded_at         timestamptz NOT NULL,
    PRIMARY KEY (code, effective_date),
    CHECK ((kind = 'HOSPITAL') = (level IS NOT NULL)),
    CHECK ((kind = 'HOSPITAL') = (left(code, 1) = 'H'))
);

-- Running services reload the registry on this notification (reference_notify, 0001).
CREATE TRIGGER institution_versions_notify AFTER INSERT ON institution_versions
    FOR EACH STATEMENT EXECUTE FUNCTION reference_notify();
