-- Pending rows are taken fewest attempts first: an event that keeps failing (a message
-- the broker confirms but cannot route, until its binding exists) sinks behind fresh
-- ones instead of filling every batch and holding the whole outbox back.
CREATE INDEX outbox_pending_by_attempts ON outbox (attempts, id) WHERE published_at IS NULL;
DROP INDEX outbox_pending;
