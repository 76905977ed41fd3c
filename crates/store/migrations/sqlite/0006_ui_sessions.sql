-- Web UI sign-ins. The browser's cookie holds a random session id; only its SHA-256 is stored.
-- A session acts through the API token it was opened with (token_id), so revoking or expiring that
-- token ends it; last_seen_at drives the idle timeout and expires_at is the absolute end.
CREATE TABLE ui_sessions (
    id_hash       TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    token_id      TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX ui_sessions_token ON ui_sessions(token_id);
CREATE INDEX ui_sessions_expires ON ui_sessions(expires_at);
