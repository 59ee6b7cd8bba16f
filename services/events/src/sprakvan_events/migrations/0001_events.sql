-- Venues, partners, activities, their materialised occurrences, sign-ups and attendance.
-- Every table carries organisation_id and every query filters on it.

CREATE TABLE partners (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    name            text NOT NULL,
    kind            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX partners_org ON partners (organisation_id, name);

CREATE TABLE venues (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    name            text NOT NULL,
    district        text NOT NULL,
    address         text NOT NULL DEFAULT '',
    capacity        integer CHECK (capacity >= 0),
    accessibility   text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venues_org ON venues (organisation_id, district);

-- Types a programme added to the built-in ones (language_cafe, popup_cafe, ...).
CREATE TABLE activity_types (
    organisation_id text NOT NULL,
    code            text NOT NULL,
    labels          jsonb NOT NULL DEFAULT '{}',
    programme       text,
    PRIMARY KEY (organisation_id, code)
);

CREATE TABLE activities (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('one_off', 'series')),
    status          text NOT NULL,
    title           text NOT NULL,
    type_code       text NOT NULL,
    venue_id        uuid REFERENCES venues (id),
    district        text,
    capacity        integer CHECK (capacity >= 0),
    programmes      text[] NOT NULL DEFAULT '{}',
    partner_ids     uuid[] NOT NULL DEFAULT '{}',
    description     text NOT NULL DEFAULT '',
    campaign        text,
    schedule        jsonb,            -- series only: first_day, starts, ends, rule, until, count
    continues       uuid REFERENCES activities (id),
    materialised_to timestamptz,      -- occurrences exist up to here
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX activities_org ON activities (organisation_id, status);

CREATE TABLE occurrences (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    activity_id     uuid NOT NULL REFERENCES activities (id),
    original_start  timestamptz,      -- where the rule put it (NULL for a one-off)
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    venue_id        uuid REFERENCES venues (id),
    district        text,
    capacity        integer CHECK (capacity >= 0),
    status          text NOT NULL,
    cancel_reason   text,
    sequence        integer NOT NULL DEFAULT 0,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    cancelled_at    timestamptz,
    -- Kept under the row lock that every sign-up decision takes: the truth, no count(*) needed.
    confirmed       integer NOT NULL DEFAULT 0,
    waitlisted      integer NOT NULL DEFAULT 0,
    arrivals        bigint NOT NULL DEFAULT 0,
    -- Attendance that is not a registered person's check-in: headcounts and erased people's outcomes.
    walk_ins        jsonb NOT NULL DEFAULT '[]',
    campaign_signups jsonb NOT NULL DEFAULT '[]',
    anonymous       jsonb NOT NULL DEFAULT '[]',
    UNIQUE (activity_id, original_start)
);
CREATE INDEX occurrences_org_start ON occurrences (organisation_id, starts_at);
CREATE INDEX occurrences_activity ON occurrences (activity_id, starts_at);

CREATE TABLE signups (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    occurrence_id   uuid NOT NULL REFERENCES occurrences (id) ON DELETE CASCADE,
    participant_id  uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('confirmed', 'waitlisted', 'cancelled')),
    arrival         bigint NOT NULL,
    signed_up_at    timestamptz NOT NULL,
    confirmed_at    timestamptz,
    promoted_at     timestamptz,
    cancelled_at    timestamptz,
    cancel_reason   text,
    cancelled_late  boolean NOT NULL DEFAULT false,
    over_capacity   boolean NOT NULL DEFAULT false,
    version         integer NOT NULL DEFAULT 1,
    UNIQUE (occurrence_id, arrival)
);
-- Signing up twice is refused in the locked decision; this index is the backstop.
CREATE UNIQUE INDEX signups_one_active ON signups (occurrence_id, participant_id) WHERE status <> 'cancelled';
CREATE INDEX signups_waiting ON signups (occurrence_id, arrival) WHERE status = 'waitlisted';
CREATE INDEX signups_participant ON signups (organisation_id, participant_id);

CREATE TABLE check_ins (
    occurrence_id   uuid NOT NULL REFERENCES occurrences (id) ON DELETE CASCADE,
    participant_id  uuid NOT NULL,
    organisation_id text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('came', 'no_show', 'cancelled_late')),
    role            text NOT NULL,
    gender          text NOT NULL,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (occurrence_id, participant_id)
);
CREATE INDEX check_ins_participant ON check_ins (organisation_id, participant_id);

-- What intake told us of each participant (ids and codes only): who may sign up.
CREATE TABLE participants (
    participant_id  uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    role            text NOT NULL,
    gender          text NOT NULL,
    status          text NOT NULL,
    programme       text,
    version         integer NOT NULL
);

-- Calendar feeds: the URL carries a random token; only its SHA-256 is kept.
CREATE TABLE feeds (
    id              uuid PRIMARY KEY,
    organisation_id text NOT NULL,
    token_sha256    bytea NOT NULL UNIQUE,
    scope           text NOT NULL CHECK (scope IN ('organisation', 'programme', 'district', 'venue')),
    scope_value     text,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

-- The organisation's vocabularies from intake's organisation.configured: the codes activities may use.
CREATE TABLE organisations (
    organisation_id text PRIMARY KEY,
    programmes      text[] NOT NULL,
    districts       text[] NOT NULL,
    campaigns       text[] NOT NULL,
    version         integer NOT NULL
);
