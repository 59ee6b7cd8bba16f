-- Participants. Identity (names, contact) lives in its own columns so that erasure is plain to see;
-- the rest of the registration is in `details`. Both are NULL once a participant is erased.
CREATE TABLE participants (
    id              uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('newcomer', 'established')),
    status          text        NOT NULL CHECK (status IN ('registered', 'interviewed', 'withdrawn', 'erased')),
    first_name      text,
    last_name       text,
    email           text,
    phone           text,
    district        text,
    details         jsonb,
    registered_at   timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL,
    interviewed_on  date,
    withdrawn_at    timestamptz,
    withdrawal_reason text,
    erased_at       timestamptz,
    CHECK (status <> 'erased' OR (first_name IS NULL AND last_name IS NULL AND email IS NULL
                                  AND phone IS NULL AND details IS NULL AND district IS NULL))
);
-- Every query is scoped to one organisation; listing pages through registration time.
CREATE INDEX participants_by_registration ON participants (organisation_id, registered_at, id);
CREATE INDEX participants_by_status ON participants (organisation_id, role, status);

CREATE TABLE interviews (
    id              uuid        PRIMARY KEY,
    participant_id  uuid        NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    organisation_id text        NOT NULL,
    held_on         date        NOT NULL,
    coordinator     text        NOT NULL,
    notes           text        NOT NULL DEFAULT '',
    recorded_by     text        NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX interviews_by_participant ON interviews (participant_id);

-- A retried POST with the same Idempotency-Key returns the participant it created the first time.
-- Only ids are kept here, no copy of the request, so erasure has nothing to chase.
CREATE TABLE idempotency_keys (
    organisation_id text        NOT NULL,
    key             text        NOT NULL,
    request_hash    text        NOT NULL,
    participant_id  uuid        NOT NULL REFERENCES participants (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, key)
);
