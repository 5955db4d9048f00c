-- Designated-pharmacy purchases (2101/2102/2103): an encounter of med_type 41 (定点药店购药),
-- or 14 for chronic/special-disease drugs (双通道), opened by a pharmacy (code P…) and
-- settled in the same transaction. Only a pharmacy opens a 41 encounter.
ALTER TABLE encounters DROP CONSTRAINT encounters_med_type_check;
ALTER TABLE encounters ADD CONSTRAINT encounters_med_type_check
    CHECK (med_type IN ('11', '14', '21', '41'));
ALTER TABLE encounters ADD CONSTRAINT encounters_purchase_at_pharmacy
    CHECK (med_type <> '41' OR hospital_code LIKE 'P%');
