-- A person's sex by its national gend code (GB/T 2261.1: 1 male, 2 female), as settlement
-- stores it and the one vocabulary (shared/vocabulary.py) spells it, instead of the
-- names MALE/FEMALE.
ALTER TABLE persons DROP CONSTRAINT persons_sex_check;
UPDATE persons SET sex = CASE sex WHEN 'MALE' THEN '1' WHEN 'FEMALE' THEN '2' END
 WHERE sex IN ('MALE', 'FEMALE');
ALTER TABLE persons ADD CONSTRAINT persons_sex_check CHECK (sex IN ('1', '2'));
