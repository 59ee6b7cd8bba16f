-- Anonymous records of erased participants, one row per organisation and registration year: what the
-- statistics keep of a person after erasure, with no id (see contracts.intake.ErasureStatistics).
CREATE TABLE erasure_statistics (
    organisation_id text    NOT NULL,
    year            integer NOT NULL,
    records         jsonb   NOT NULL,
    version         integer NOT NULL,
    PRIMARY KEY (organisation_id, year)
);
