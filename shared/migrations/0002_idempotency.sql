-- Idempotency keys: a request's key (a hospital msgid, a channel request id) is claimed
-- at the start of the transaction that performs it and completed with the response in
-- the same transaction. A concurrent duplicate blocks on the key until the first
-- commits, then reads its response; if the first rolls back, the duplicate proceeds.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  bytea       NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
