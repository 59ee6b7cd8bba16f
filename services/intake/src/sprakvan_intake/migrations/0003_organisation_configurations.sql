-- One configuration per organisation: its programmes and vocabularies (codes with labels), exactly the
-- `organisation.configured` payload. `version` grows by one with every change and is the HTTP ETag.
CREATE TABLE organisation_configurations (
    organisation_id text        PRIMARY KEY,
    configuration   jsonb       NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
