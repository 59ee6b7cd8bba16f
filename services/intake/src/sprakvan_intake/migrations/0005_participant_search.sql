-- Coordinators search participants by the beginnings of their names: `name_search` holds the first and
-- last name case-folded by intake (Python: PostgreSQL's lower() is ASCII-only in a database without a
-- locale), and a GIN text-search index makes a search an index scan, also for 10,000 participants.
-- Rows registered before this migration are lowered here (ASCII only without a locale) until they change.
ALTER TABLE participants ADD COLUMN name_search text;
UPDATE participants SET name_search = lower(first_name || ' ' || coalesce(last_name, '')) WHERE first_name IS NOT NULL;
ALTER TABLE participants ADD CONSTRAINT participants_erased_name_search CHECK (status <> 'erased' OR name_search IS NULL);
CREATE INDEX participants_by_name ON participants USING gin (to_tsvector('simple', coalesce(name_search, '')));
