-- Transactional outbox: a state change and the events announcing it commit together.
CREATE TABLE outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    subject        text        NOT NULL,
    event_type     text        NOT NULL,
    organisation_id text       NOT NULL,
    aggregate_id   uuid,
    correlation_id text,
    body           bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
-- The relay reads unpublished rows in id order; this index stays as small as the backlog.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_aggregate ON outbox (aggregate_id);

-- Idempotent inbox: a consumer records an event id in the same transaction as its effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
