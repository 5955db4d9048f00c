-- Times come from the service's clock (passed as parameters), never from the database
-- server's wall clock: no column defaults to now().
ALTER TABLE catalogue_versions ALTER COLUMN loaded_at DROP DEFAULT;
ALTER TABLE policy_versions ALTER COLUMN loaded_at DROP DEFAULT;
ALTER TABLE encounters ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE encounters ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE fee_lines ALTER COLUMN uploaded_at DROP DEFAULT;
ALTER TABLE settlements ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE accumulations ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE supervision_warnings ALTER COLUMN raised_at DROP DEFAULT;
ALTER TABLE messages ALTER COLUMN received_at DROP DEFAULT;
