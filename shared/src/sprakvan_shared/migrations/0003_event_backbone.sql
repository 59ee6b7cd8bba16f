-- The event backbone: aggregate ids are subject tokens (UUIDs or slugs), tombstones purge the streams,
-- and consumers gate on each aggregate's version instead of remembering event ids.
ALTER TABLE outbox ALTER COLUMN aggregate_id TYPE text USING aggregate_id::text;
ALTER TABLE outbox ALTER COLUMN aggregate_id SET NOT NULL;
-- Set on a tombstone's row: the relative subject filter of the aggregate's messages to purge after it.
ALTER TABLE outbox ADD COLUMN purges text;

DROP TABLE inbox;
-- Per consumer and aggregate: the highest version applied, and whether a tombstone ended it. Holds ids
-- only, and is kept after an erasure so that no late event of the aggregate can recreate it.
CREATE TABLE consumed_aggregates (
    consumer       text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    version        integer     NOT NULL,
    tombstone      boolean     NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);
