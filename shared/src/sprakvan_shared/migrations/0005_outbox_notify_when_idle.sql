-- Wake the relay only when no earlier row waits for it. Every transaction that NOTIFYs takes a global lock
-- at commit, so a NOTIFY per change serialises the commits of every writer of the database (their WAL
-- flushes one after the other: half the commits per second, measured). While rows wait, the relay is at
-- work and looks again after its linger (relay.py), so it needs no wake-up; a row retried later or parked
-- does not count as waiting. Statement-level as before: one check per INSERT, however many rows it adds.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM outbox
         WHERE published_at IS NULL AND parked_at IS NULL
           AND (next_attempt_at IS NULL OR next_attempt_at <= now())
           AND id < (SELECT min(id) FROM added)) THEN
        PERFORM pg_notify('sprakvan_outbox', '');
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
