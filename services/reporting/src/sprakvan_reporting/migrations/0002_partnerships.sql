-- The partnership (IOP) is this service's own data, written by admins over the API.
CREATE TABLE partnerships (
    partnership_id  uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    terms           jsonb       NOT NULL,
    version         integer     NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL
);
CREATE INDEX partnerships_by_organisation ON partnerships (organisation_id);

-- Background, future and summary of one period's review.
CREATE TABLE narratives (
    partnership_id uuid        NOT NULL REFERENCES partnerships (partnership_id) ON DELETE CASCADE,
    period_start   date        NOT NULL,
    period_end     date        NOT NULL,
    background     text        NOT NULL,
    future         text        NOT NULL,
    summary        text        NOT NULL,
    updated_at     timestamptz NOT NULL,
    updated_by     text        NOT NULL,
    PRIMARY KEY (partnership_id, period_start, period_end)
);

-- PDF renders run off the request path; the file waits here until it is fetched.
CREATE TABLE pdf_renders (
    render_id       uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    request         jsonb       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    pdf             bytea,
    requested_at    timestamptz NOT NULL,
    finished_at     timestamptz
);
