-- Wake the relay from a trigger rather than a separate `SELECT pg_notify` round trip per change.
-- Statement-level: one notification per INSERT, however many events it adds. Delivered at commit.
-- The channel is outbox.NOTIFY_CHANNEL.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sprakvan_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
