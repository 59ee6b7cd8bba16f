-- The dry run of a workspace import runs in the background as well (issue 13): a run is a dry run until the
-- admin confirms it, then the same row (same file, same page) runs for real. The upload waits there now, so
-- pending_imports goes (an upload waiting for its confirmation is a done dry run).
ALTER TABLE import_runs ADD COLUMN dry_run boolean NOT NULL DEFAULT false;
DROP TABLE pending_imports;
