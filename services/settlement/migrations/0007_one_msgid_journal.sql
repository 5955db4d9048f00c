-- One journal of hospital msgids: the idempotency key (its request's fingerprint and stored
-- answer) lives on the msgid's `messages` row, next to what the msgid did and whether a
-- correction undid it. A request claims its row first (state CLAIMED) and the statement
-- that does its work journals it (DONE): a retry finds the stored answer on the same row
-- the tombstone of a correction would be, so a corrected msgid is refused at its claim.
ALTER TABLE messages ADD COLUMN fingerprint bytea;
ALTER TABLE messages ADD COLUMN response bytea;
-- What the msgid did is known once its work ran (2207 or 2304 depends on the encounter).
ALTER TABLE messages ALTER COLUMN infno DROP NOT NULL;
ALTER TABLE messages DROP CONSTRAINT messages_state_check;
ALTER TABLE messages DROP CONSTRAINT messages_check;
ALTER TABLE messages ADD CONSTRAINT messages_state_check
    CHECK (state IN ('CLAIMED', 'DONE', 'CORRECTED', 'TOMBSTONE'));
ALTER TABLE messages ADD CONSTRAINT messages_corrected_by_check
    CHECK ((state IN ('CORRECTED', 'TOMBSTONE')) = (corrected_by IS NOT NULL));
ALTER TABLE messages ADD CONSTRAINT messages_infno_check
    CHECK (state = 'CLAIMED' OR infno IS NOT NULL);

-- The keys kept so far move over: onto the msgid's journal row, or as a row of their own
-- (DONE, what it did unknown: infno '') for a key the journal never had.
UPDATE messages m SET fingerprint = k.fingerprint, response = k.response
  FROM idempotency_keys k
 WHERE k.scope = 'settlement' AND k.key = m.msgid AND m.state = 'DONE';
INSERT INTO messages (msgid, hospital_code, infno, state, fingerprint, response, received_at)
SELECT k.key, left(k.key, 12), '', 'DONE', k.fingerprint, k.response, k.created_at
  FROM idempotency_keys k
 WHERE k.scope = 'settlement' AND k.response IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.msgid = k.key);
DELETE FROM idempotency_keys WHERE scope = 'settlement';
