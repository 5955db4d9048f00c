-- The rest of the hospital transaction set: the admission department (2403) and the
-- encounters of one person at one hospital (5201, 5206's "currently treating").
ALTER TABLE encounters ADD COLUMN dept_code text NOT NULL DEFAULT '';
CREATE INDEX encounters_by_hospital_person ON encounters (hospital_code, psn_no, mdtrt_id);
