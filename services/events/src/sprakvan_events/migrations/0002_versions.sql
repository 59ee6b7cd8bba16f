-- Versions for the writes that replace a whole thing (PUT): a venue, a programme's activity type, and an
-- occurrence's counts (walk-in headcounts and campaign sign-ups). A PUT sends the version it read as
-- If-Match; a change someone saved in between is a 412, not silently overwritten. The counts have their own
-- version, not the occurrence's: a check-in or a move must not make a volunteer's headcount table stale.
ALTER TABLE venues ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE activity_types ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE occurrences ADD COLUMN counts_version integer NOT NULL DEFAULT 1;
