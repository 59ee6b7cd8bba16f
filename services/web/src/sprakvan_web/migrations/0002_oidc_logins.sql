-- An OpenID Connect login in flight: state, nonce and PKCE verifier, kept server-side for minutes.
CREATE TABLE oidc_logins (
    state         text        PRIMARY KEY,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    next_lang     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
