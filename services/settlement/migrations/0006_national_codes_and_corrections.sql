-- Chronic/special diseases by their national codes (门诊慢特病病种代码, shared/vocabulary.py)
-- instead of the project's former private codes MT01…MT10. Rewrites what is stored: the
-- encounters' disease, the annual accumulations' per-disease keys and the stored catalogue
-- and policy bodies (so they load with the new code). body_sha256 keeps the digest of the
-- file as loaded: reloading that version id from an edited file is a different version.
-- Dialysis (MT04) becomes haemodialysis M07803; peritoneal dialysis M07804 is new.
CREATE TEMPORARY TABLE legacy_chronic (legacy text PRIMARY KEY, national text NOT NULL)
    ON COMMIT DROP;
INSERT INTO legacy_chronic VALUES
    ('MT01', 'M03900'), ('MT02', 'M01600'), ('MT03', 'M00503'), ('MT04', 'M07803'),
    ('MT05', 'M08300'), ('MT06', 'M05300'), ('MT07', 'M06900'), ('MT08', 'M04600'),
    ('MT09', 'M00201'), ('MT10', 'M07200');

UPDATE encounters e SET chronic_disease = l.national
  FROM legacy_chronic l WHERE e.chronic_disease = l.legacy;
-- A chronic visit's diagnosis is its disease code.
UPDATE encounters e SET diag_code = l.national
  FROM legacy_chronic l WHERE e.med_type = '14' AND e.diag_code = l.legacy;

UPDATE accumulations a
   SET chronic_hifp_paid_fen = (
       SELECT coalesce(jsonb_object_agg(coalesce(l.national, kv.key), kv.value), '{}'::jsonb)
         FROM jsonb_each(a.chronic_hifp_paid_fen) kv
         LEFT JOIN legacy_chronic l ON l.legacy = kv.key)
 WHERE chronic_hifp_paid_fen ?| ARRAY(SELECT legacy FROM legacy_chronic);

CREATE OR REPLACE FUNCTION pg_temp.national_chronic(body jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
           body::text,
           '"MT01"', '"M03900"'), '"MT02"', '"M01600"'), '"MT03"', '"M00503"'),
           '"MT04"', '"M07803"'), '"MT05"', '"M08300"'), '"MT06"', '"M05300"'),
           '"MT07"', '"M06900"'), '"MT08"', '"M04600"'), '"MT09"', '"M00201"'),
           '"MT10"', '"M07200"')::jsonb
$$;
UPDATE catalogue_versions SET body = pg_temp.national_chronic(body)
 WHERE body::text LIKE '%"MT__"%';
UPDATE policy_versions SET body = pg_temp.national_chronic(body)
 WHERE body::text LIKE '%"MT__"%';
DROP FUNCTION pg_temp.national_chronic(jsonb);

-- 2601 of 2202, 2403, 2404 and 2405 (services/settlement/corrections.py): the encounter's
-- correctable columns before and after the transaction, on the transaction's own journal
-- row, so a correction can check nothing happened since and restore "before".
ALTER TABLE messages ADD COLUMN undo jsonb
    CHECK (undo IS NULL OR (undo ? 'before' AND undo ? 'after'));

-- 5205: a person's settled chronic/special outpatient visits, at every institution.
CREATE INDEX encounters_chronic_settled ON encounters (psn_no)
    WHERE med_type = '14' AND state = 'SETTLED';
