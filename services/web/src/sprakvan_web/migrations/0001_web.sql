-- Users are keyed on (issuer, subject), never on email: "local" accounts have their user name as
-- subject and an argon2id hash; OpenID Connect users will come with their provider's issuer.
CREATE TABLE users (
    id              uuid        PRIMARY KEY,
    organisation_id text        NOT NULL,
    issuer          text        NOT NULL,
    subject         text        NOT NULL,
    display_name    text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('admin', 'coordinator', 'viewer')),
    password_hash   text,
    disabled        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash  text        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Each consent wording once, by hash: a sign-up points at exactly what it was shown.
CREATE TABLE consent_texts (
    text_sha256 text PRIMARY KEY,
    version     text NOT NULL,
    language    text NOT NULL,
    body        text NOT NULL
);

-- What the web service keeps of a sign-up: the consent (which text, version, language, when shown and
-- given, through which channel) and the language the person wants to be contacted in. Deleted when
-- intake erases the participant.
CREATE TABLE signups (
    participant_id   uuid        PRIMARY KEY,
    organisation_id  text        NOT NULL,
    programme        text        NOT NULL,
    contact_language text        NOT NULL,
    consent_version  text        NOT NULL,
    consent_language text        NOT NULL,
    consent_sha256   text        NOT NULL REFERENCES consent_texts (text_sha256),
    original_sha256  text        REFERENCES consent_texts (text_sha256), -- the Swedish beside a draft
    photo_consent    boolean     NOT NULL,
    shown_at         timestamptz NOT NULL,
    given_at         timestamptz NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('web_form', 'assisted')),
    assisted_by      uuid        REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX signups_organisation ON signups (organisation_id);

-- Sign-up posts per address (an HMAC of it, never the address) and fixed window.
CREATE TABLE signup_rate (
    address_key  text        NOT NULL,
    window_start timestamptz NOT NULL,
    posts        integer     NOT NULL,
    PRIMARY KEY (address_key, window_start)
);
