-- Who made each filing version: the end user a channel acted for (person:<psn_no> for
-- the person signed in to an online channel, staff:<pool>:<staff id> for a counter
-- clerk), else the calling party's code (a pool agency, a hospital, a service).
-- Versions written before end-user tokens existed record their caller.
ALTER TABLE filings ADD COLUMN acted_by text;
UPDATE filings SET acted_by = requested_by WHERE acted_by IS NULL;
ALTER TABLE filings ALTER COLUMN acted_by SET NOT NULL;
ALTER TABLE filings ADD CONSTRAINT filings_acted_by_len CHECK (char_length(acted_by) <= 128);
-- A channel's request ids are its end user's: two persons of one channel may pick the
-- same id (the idempotency scope holds the end user too).
DROP INDEX filings_channel_request;
CREATE UNIQUE INDEX filings_channel_request
    ON filings (channel, requested_by, acted_by, channel_request_id) WHERE version = 1;
