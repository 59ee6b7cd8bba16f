-- Which aggregate each import key of an organisation became, and the hash of the row that made it:
-- the same row again changes nothing, a changed row updates the same aggregate.
CREATE TABLE import_keys (
    organisation_id text NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    aggregate_id text NOT NULL,
    row_hash text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, kind, key)
);
CREATE INDEX import_keys_by_aggregate ON import_keys (organisation_id, aggregate_id);
