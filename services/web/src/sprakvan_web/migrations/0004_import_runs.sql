-- A confirmed workspace import running in the background of the web service (issue 13): its state and its
-- progress per sheet, here so that every web replica and a reload see them. The file stays until the run
-- is done (a run that stopped or failed can be run again from it); a run goes a day after its last sign.
CREATE TABLE import_runs (
    id              uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    user_id         uuid        NOT NULL,
    file_name       text        NOT NULL,
    programme       text,
    content         bytea,
    -- running: its process writes heartbeat_at every few seconds; a running run whose heartbeat is old
    -- belongs to a process that died. stopped: its process was shut down. failed: see problem.
    status          text        NOT NULL CHECK (status IN ('running', 'done', 'stopped', 'failed')),
    problem         text,
    -- [{kind, sheet, rows, sent, total, finished, created, updated, unchanged, refused}], in sending order
    sheets          jsonb       NOT NULL DEFAULT '[]',
    report          jsonb,
    started_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_runs_heartbeat_at ON import_runs (heartbeat_at);
