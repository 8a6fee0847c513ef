-- People and machines that may use the API, their sign-in sessions, and who did what.

CREATE TABLE users (
    username       TEXT PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
    -- argon2id, PHC string format (salt and parameters inside)
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- a password change ends the user's sessions: sessions older than this are refused
    password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A signed-in browser. Only the SHA-256 of the cookie's secret is kept.
CREATE TABLE auth_sessions (
    token_sha256  TEXT PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    username      TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE ON UPDATE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX auth_sessions_username ON auth_sessions (username);
CREATE INDEX auth_sessions_last_seen ON auth_sessions (last_seen_at);

-- API tokens for machines (Prometheus, scripts, signs). Only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256  TEXT NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by    TEXT NOT NULL,
    last_used_at  TIMESTAMPTZ,
    -- declared in the configuration (auth.tokens): kept in step with it at every start
    declared      BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX api_tokens_declared_name ON api_tokens (name) WHERE declared;

-- Every manual change and admin action: who (a user, or a token as "token:<name>"), what, when.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);

-- Which user or token a manual change or a sensor report came from.
ALTER TABLE slot_events ADD COLUMN actor TEXT;
ALTER TABLE parking_sessions ADD COLUMN started_by TEXT, ADD COLUMN ended_by TEXT;
