-- What the probe service keeps of each participant: the last applied state, as a consumer would.
CREATE TABLE probe_participants (
    participant_id uuid PRIMARY KEY,
    status         text    NOT NULL,
    version        integer NOT NULL,
    district       text,
    applied        integer NOT NULL DEFAULT 1
);
CREATE TABLE probe_configurations (
    organisation_id text PRIMARY KEY,
    version         integer NOT NULL
);
