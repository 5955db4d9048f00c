-- Chronic/special diseases by their national codes (门诊慢特病病种代码, shared/vocabulary.py)
-- instead of the project's former private codes MT01…MT10 (dialysis MT04 → haemodialysis
-- M07803). Callers may still send the old codes: the gRPC edge maps them.
ALTER TABLE chronic_certifications DROP CONSTRAINT chronic_certifications_disease_code_check;
UPDATE chronic_certifications c SET disease_code = m.national
  FROM (VALUES
    ('MT01', 'M03900'), ('MT02', 'M01600'), ('MT03', 'M00503'), ('MT04', 'M07803'),
    ('MT05', 'M08300'), ('MT06', 'M05300'), ('MT07', 'M06900'), ('MT08', 'M04600'),
    ('MT09', 'M00201'), ('MT10', 'M07200')) AS m (legacy, national)
 WHERE c.disease_code = m.legacy;
ALTER TABLE chronic_certifications
    ADD CONSTRAINT chronic_certifications_disease_code_check CHECK (disease_code ~ '^M[0-9]{5}$');
