-- An uploaded spreadsheet between its dry run and the admin's confirmation (workspace import, issue 13):
-- kept server-side, never in the browser; deleted when confirmed, and pruned after an hour.
CREATE TABLE pending_imports (
    id              uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    user_id         uuid        NOT NULL,
    file_name       text        NOT NULL,
    programme       text,
    content         bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_imports_created_at ON pending_imports (created_at);
