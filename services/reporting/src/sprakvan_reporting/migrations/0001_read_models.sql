-- Read models, built only from other services' integration events. Ids, codes and dates; no names,
-- contacts or free text. Every row is the latest full state of one aggregate (highest version wins),
-- so a handler is an upsert and a replay rebuilds the same rows. Dates are local days of the
-- organisation's time zone, computed when the event is applied.

-- A participant, or the anonymous statistical record intake publishes when a person is erased (a random
-- id, no link to the person, the same codes and dates): the person's row goes, the record counts instead.
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

CREATE TABLE activities (
    organisation_id text    NOT NULL,
    activity_id     uuid    NOT NULL,
    programme       text,
    activity_type   text    NOT NULL,
    district        text,
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, activity_id)
);

-- One session of an activity. Attendance is kept as counts (sign-ups, registered attendees, walk-ins by
-- role and gender in the order of domain.model.WALK_IN_SLOTS): the report sums sessions, never people.
CREATE TABLE occurrences (
    organisation_id text      NOT NULL,
    occurrence_id   uuid      NOT NULL,
    activity_id     uuid      NOT NULL,
    district        text,
    starts_on       date      NOT NULL,
    held            boolean   NOT NULL,
    signups         integer   NOT NULL,
    attended        integer   NOT NULL,
    walk_ins        integer[] NOT NULL,
    walk_ins_total  integer   NOT NULL,
    version         integer   NOT NULL,
    PRIMARY KEY (organisation_id, occurrence_id)
);
CREATE INDEX occurrences_by_day ON occurrences (organisation_id, starts_on);

-- The organisation's configuration (labels of programmes, districts, referral sources, campaigns).
CREATE TABLE organisations (
    organisation_id text    PRIMARY KEY,
    configuration   jsonb   NOT NULL,
    version         integer NOT NULL
);
