-- Lets the inbox be purged of old message ids in bounded batches without a full scan.
CREATE INDEX inbox_received_at ON inbox (received_at);
