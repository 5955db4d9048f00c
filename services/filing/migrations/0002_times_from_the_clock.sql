-- Times come from the service's clock (passed as parameters), never from the database
-- server's wall clock: no column defaults to now().
ALTER TABLE persons ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE persons ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE filings ALTER COLUMN created_at DROP DEFAULT;
