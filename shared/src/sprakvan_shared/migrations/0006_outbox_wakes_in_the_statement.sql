-- The relay is woken by the statements that add outbox rows (outbox.py, _WAKE), with the same rule as
-- 0005 (notify only when no earlier row waits), no longer by an insert trigger. Measured on 10 connections,
-- each statement a registration with its outbox row: 4,180-4,480 statements/s with the trigger of 0005,
-- 4,750-4,860 without it; the trigger's plpgsql, its transition table (or, per row, its after-trigger
-- queue) and its query cost PostgreSQL 0.037 ms of a registration's 0.2. A writer that adds rows some
-- other way is found by the relay's poll (a second at most).
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
