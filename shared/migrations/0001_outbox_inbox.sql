-- Transactional outbox: an event is a row written in the same transaction as the change
-- it describes, so it exists if and only if that change committed. A relay publishes
-- unpublished rows with publisher confirms and marks them; several relays may run
-- (FOR UPDATE SKIP LOCKED), and a relay killed after publishing but before marking
-- leads to a re-publish that the consumer's inbox absorbs.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    message_id    uuid        NOT NULL UNIQUE,
    exchange      text        NOT NULL,
    routing_key   text        NOT NULL,
    message_type  text        NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Wake relays at once instead of waiting for their polling interval. One notification a
-- statement, not a row: a batch insert wakes a relay once.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Inbox: a consumed message's id is recorded in the same transaction as its effect, so a
-- redelivered message finds its id and is acknowledged without a second effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
