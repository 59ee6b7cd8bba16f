-- A row that fails to publish for a reason of its own (no stream captures its subject, too large...) is
-- retried with a growing delay, then parked: kept, visible, and no longer in the relay's way.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
-- The relay's work list: unpublished and not parked; as small as the backlog.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_relayable ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL AND published_at IS NULL;
-- Marking a row published is the relay's most frequent write: one index fewer to update for it. Pruning
-- (hourly) walks the primary key from the oldest row instead, where the prunable rows are.
DROP INDEX outbox_published_at;
