-- Read models, built only from other services' integration events. Ids, codes and dates; no names,
-- contacts or free text. Every row is the latest full state of one aggregate (highest version wins),
-- so a handler is an upsert and a replay rebuilds the same rows. Dates are local days of the
-- organisation's time zone, computed when the event is applied.

-- A participant, or an anonymous statistical record of an erased one (intake's erasure statistics: the
-- same codes and days, no link to the person; record_id is made up here). When a person is erased their
-- row goes and the anonymous record counts instead, so past figures stay as they were.
CREATE TABLE participants (
    organisation_id text    NOT NULL,
    record_id       uuid    NOT NULL,
    anonymous       boolean NOT NULL,
    programme       text,
    role            text    NOT NULL,
    gender          text    NOT NULL,
    birth_year      integer,
    district        text,
    referral_source text,
    campaign        text,
    capacity        integer,
    registered_on   date    NOT NULL,
    interviewed_on  date,
    withdrawn_on    date,
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, record_id)
);
CREATE INDEX participants_by_registration ON participants (organisation_id, registered_on);

-- Erased people: a late or replayed event of theirs never brings their row back.
CREATE TABLE erased_participants (
    organisation_id text NOT NULL,
    participant_id  uuid NOT NULL,
    PRIMARY KEY (organisation_id, participant_id)
);

CREATE TABLE pairs (
    organisation_id text    NOT NULL,
    pair_id         uuid    NOT NULL,
    programme       text,
    newcomer_id     uuid,
    established_id  uuid,
    origin          text,
    status          text    NOT NULL,
    proposed_on     date,
    formed_on       date,
    activated_on    date,
    ended_on        date,
    end_reason      text,
    follow_up_dates date[]  NOT NULL DEFAULT '{}',
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, pair_id)
);
CREATE INDEX pairs_by_formation ON pairs (organisation_id, formed_on);

-- One meeting of an activity as the report counts it. Three aggregates of the events service each own
-- their columns, each with its own version: the occurrence (the events service's "activity" aggregate;
-- activity_id is its series), its attendance sheet (counts by role and gender, slots in the order of
-- domain.model.WALK_IN_SLOTS: registered participants who came, erased ones included as counts, and
-- walk-ins), and its confirmed sign-ups (recounted from `signups`). Whichever arrives first creates the
-- row; the report reads one row per meeting and joins nothing.
CREATE TABLE sessions (
    organisation_id    text      NOT NULL,
    occurrence_id      uuid      NOT NULL,
    activity_id        uuid,
    programmes         text[],   -- empty: open to every programme
    activity_type      text,
    district           text,
    starts_on          date,     -- NULL until the occurrence itself has arrived
    cancelled          boolean,
    occurrence_version integer,
    came               integer[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0}',
    came_total         integer   NOT NULL DEFAULT 0,
    no_show            integer   NOT NULL DEFAULT 0,
    walk_ins           integer[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0}',
    walk_ins_total     integer   NOT NULL DEFAULT 0,
    campaign_signups   jsonb     NOT NULL DEFAULT '{}',
    attendance_version integer,
    signups_confirmed  integer   NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, occurrence_id)
);
CREATE INDEX sessions_by_day ON sessions (organisation_id, starts_on);

-- Sign-ups without the person: only what is counted. An erased person's sign-up is deleted.
CREATE TABLE signups (
    organisation_id text    NOT NULL,
    signup_id       uuid    NOT NULL,
    occurrence_id   uuid    NOT NULL,
    status          text    NOT NULL,
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, signup_id)
);
CREATE INDEX signups_by_occurrence ON signups (organisation_id, occurrence_id);

-- The anonymous records of erased participants arrive per organisation and registration year, as a
-- whole; their rows in `participants` are replaced together.
CREATE TABLE erasure_statistics (
    organisation_id text    NOT NULL,
    year            integer NOT NULL,
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, year)
);

-- The organisation's configuration (labels of programmes, districts, referral sources, campaigns).
CREATE TABLE organisations (
    organisation_id text    PRIMARY KEY,
    configuration   jsonb   NOT NULL,
    version         integer NOT NULL
);
