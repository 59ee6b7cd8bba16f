-- A narrative's version, so that two people writing the same review cannot overwrite each other unseen
-- (PUT with If-Match). Narratives written before this start at version 1.
ALTER TABLE narratives ADD COLUMN version integer NOT NULL DEFAULT 1;
