-- Times come from the service's clock (passed as parameters), never from the database
-- server's wall clock: no column defaults to now() or clock_timestamp().
ALTER TABLE periods ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE period_actions ALTER COLUMN acted_at DROP DEFAULT;
ALTER TABLE ledger ALTER COLUMN recorded_at DROP DEFAULT;
ALTER TABLE statements ALTER COLUMN generated_at DROP DEFAULT;
ALTER TABLE adjustments ALTER COLUMN decided_at DROP DEFAULT;
ALTER TABLE advance_funds ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE advance_fund_changes ALTER COLUMN changed_at DROP DEFAULT;
ALTER TABLE applications ALTER COLUMN submitted_at DROP DEFAULT;
