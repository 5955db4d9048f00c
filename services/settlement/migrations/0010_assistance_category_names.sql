-- Medical-assistance categories by the one vocabulary's names (shared/vocabulary.py
-- AssistanceCategory, as the public contract names them): 低保 is MINIMUM_LIVING, no
-- longer DIBAO. Rewrites what is stored under the old name: the encounters' category and
-- the stored policy versions' assistance ratios, so every stored version still loads.
-- A policy version is named by its own version_id (not by its content), which settlements
-- reference and which does not change; body_sha256 keeps the digest of the file as loaded
-- (as 0006 did): reloading that version id from an edited file is a different version.
UPDATE encounters SET maf_category = 'MINIMUM_LIVING' WHERE maf_category = 'DIBAO';

UPDATE policy_versions
   SET body = jsonb_set(
           body,
           '{maf,ratio_bp_by_category}',
           (body #> '{maf,ratio_bp_by_category}') - 'DIBAO'
               || jsonb_build_object('MINIMUM_LIVING', body #> '{maf,ratio_bp_by_category,DIBAO}'))
 WHERE body #> '{maf,ratio_bp_by_category}' ? 'DIBAO';
