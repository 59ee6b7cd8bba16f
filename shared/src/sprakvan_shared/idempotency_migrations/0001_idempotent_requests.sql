-- Idempotency-Key records of every POST (sprakvan_shared/idempotency.py). A row is written in the same
-- transaction as the change it guards; its response follows right after, so a retry gets the original
-- answer. Keys are scoped per organisation. After erasure only ids remain (gone = true): 410.
CREATE TABLE idempotent_requests (
    organisation_id  text        NOT NULL,
    key              text        NOT NULL,
    request_hash     text,                   -- sha256 of method, path, query and body; NULL once gone
    resource_id      text,                   -- the aggregate it concerned, for erasure
    status_code      integer,                -- NULL while running, or when the response was lost
    response_headers jsonb,
    response_body    bytea,
    gone             boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (organisation_id, key),
    CHECK (NOT gone OR (request_hash IS NULL AND response_body IS NULL AND response_headers IS NULL))
);
CREATE INDEX idempotent_requests_by_resource ON idempotent_requests (organisation_id, resource_id)
    WHERE resource_id IS NOT NULL;
CREATE INDEX idempotent_requests_by_expiry ON idempotent_requests (expires_at);
