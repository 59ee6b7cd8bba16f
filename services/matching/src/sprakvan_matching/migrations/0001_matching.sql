-- Matching's own database. Candidates and organisations are a read model built from intake's events
-- (codes and numbers, no names or contacts); pairs, settings and forbids are matching's own.

CREATE TABLE organisations (
    organisation_id text PRIMARY KEY,
    programmes      jsonb       NOT NULL,  -- [{code, kind, labels}]
    districts       jsonb       NOT NULL,  -- [{code, labels, neighbours: [codes]}]
    interests       jsonb       NOT NULL,  -- [{code, labels}]
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE candidates (
    participant_id  uuid PRIMARY KEY,
    organisation_id text        NOT NULL,
    programme       text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('newcomer', 'established')),
    status          text        NOT NULL,
    gender          text        NOT NULL,
    birth_year      integer     NOT NULL,
    district        text        NOT NULL,
    languages       text[]      NOT NULL DEFAULT '{}',
    interests       text[]      NOT NULL DEFAULT '{}',
    availability    text[]      NOT NULL DEFAULT '{}',  -- slot codes: tue_evening
    same_gender     boolean     NOT NULL DEFAULT false,
    age_min         integer,
    age_max         integer,
    capacity        integer     NOT NULL DEFAULT 1,
    registered_at   timestamptz NOT NULL,
    interviewed_on  date
);
CREATE INDEX candidates_pool ON candidates (organisation_id, programme, role);

CREATE TABLE programme_settings (
    organisation_id text        NOT NULL,
    programme       text        NOT NULL,
    settings        jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text        NOT NULL,
    PRIMARY KEY (organisation_id, programme)
);

CREATE TABLE pairs (
    pair_id          uuid PRIMARY KEY,
    organisation_id  text        NOT NULL,
    programme        text        NOT NULL,
    newcomer_id      uuid        NOT NULL,
    established_id   uuid        NOT NULL,
    origin           text        NOT NULL,
    status           text        NOT NULL,
    proposed_at      timestamptz,
    formed_at        timestamptz,
    activated_at     timestamptz,
    activated_on     date,
    conversation     jsonb,             -- {held_on, attended: [codes]}
    follow_ups       jsonb       NOT NULL DEFAULT '[]',  -- [{due_on, done_on, outcome, notes}]: notes stay here
    ended_on         date,
    end_reason       text,
    rejection_reason text,
    score            jsonb,
    round_id         uuid,
    meetup_id        uuid,
    rematch_of       uuid,
    version          integer     NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The last guard against double pairing, behind the row locks of the service layer.
CREATE UNIQUE INDEX pairs_one_open_per_newcomer ON pairs (newcomer_id) WHERE status IN ('formed', 'active');
CREATE INDEX pairs_by_programme ON pairs (organisation_id, programme, status);
CREATE INDEX pairs_by_established ON pairs (established_id);
CREATE INDEX pairs_by_newcomer ON pairs (newcomer_id);

CREATE TABLE forbidden_pairs (
    organisation_id text        NOT NULL,
    programme       text        NOT NULL,
    newcomer_id     uuid        NOT NULL,
    established_id  uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text        NOT NULL,
    PRIMARY KEY (organisation_id, newcomer_id, established_id)
);

CREATE TABLE rounds (
    round_id        uuid PRIMARY KEY,
    organisation_id text        NOT NULL,
    programme       text        NOT NULL,
    run_at          timestamptz NOT NULL,
    run_by          text        NOT NULL,
    waiting         integer     NOT NULL,
    proposals       integer     NOT NULL,
    candidates      integer     NOT NULL,
    objective       bigint      NOT NULL
);
CREATE INDEX rounds_by_programme ON rounds (organisation_id, programme, run_at DESC);
