-- Times come from the services' clock (passed as parameters), never from the database
-- server's wall clock: no column defaults to now().
ALTER TABLE outbox ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE inbox ALTER COLUMN received_at DROP DEFAULT;
ALTER TABLE idempotency_keys ALTER COLUMN created_at DROP DEFAULT;
