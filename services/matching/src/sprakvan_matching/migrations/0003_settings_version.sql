-- A programme's settings carry a version: PUT /programmes/{p}/settings sends the one it read as If-Match,
-- so two admins editing at once do not silently overwrite each other (412). 0 is "never saved" (defaults).
ALTER TABLE programme_settings ADD COLUMN version integer NOT NULL DEFAULT 1;
