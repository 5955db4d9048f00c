-- Hospitals and pharmacies apart. An institution code's first letter is its kind: 'H' a
-- hospital, 'P' a pharmacy (the service refuses any other code as poison).

-- Every ledger row keeps the kind of the institution its settlement happened at, derived
-- from the code it carries: it cannot disagree with it, rows recorded before get theirs,
-- and the INSERTs name no new column. (Adding a stored column rewrites the table once.)
ALTER TABLE ledger ADD COLUMN institution_kind text NOT NULL
    GENERATED ALWAYS AS (CASE left(hospital_code, 1)
                         WHEN 'H' THEN 'HOSPITAL'
                         WHEN 'P' THEN 'PHARMACY' END) STORED;

-- Every statement keeps its figures per kind: counts, per-fund figures and the net
-- amount, one object per kind (hospitals first). A statement generated before holds none
-- until it is generated again.
ALTER TABLE statements ADD COLUMN institution_totals jsonb NOT NULL DEFAULT '[]';
ALTER TABLE statements ALTER COLUMN institution_totals DROP DEFAULT;
