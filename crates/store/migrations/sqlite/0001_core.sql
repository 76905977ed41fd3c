-- Tributary core schema (SQLite). Ids are TEXT (UUID v7), JSON is TEXT, times are INTEGER unix ms.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- tenant_id NULL marks an operator token (manages tenants). Only the SHA-256 of a token is kept.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id);

CREATE TABLE integrations (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    definition_id   TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_input      TEXT NOT NULL,
    provider_state  TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    status          TEXT NOT NULL,
    status_reason   TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX integrations_tenant ON integrations(tenant_id, definition_id);

-- One encrypted credential per integration and slot. `version` grows by one on every write
-- (compare-and-swap); `key_id` names the key-ring key that sealed `ciphertext`.
CREATE TABLE credentials (
    integration_id  TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    slot            TEXT NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    ciphertext      BLOB NOT NULL,
    key_id          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (integration_id, slot)
);
CREATE INDEX credentials_key ON credentials(key_id);

-- Keymaker sessions: the browser holds the token, the database only its SHA-256.
CREATE TABLE auth_sessions (
    token_hash      TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    integration_id  TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    definition_id   TEXT NOT NULL,
    connection      TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    provider_state  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX auth_sessions_expiry ON auth_sessions(expires_at);

-- The endpoint id is public (it appears in the webhook URL); the secret is sealed by the keystore.
CREATE TABLE webhook_endpoints (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    integration_id     TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    secret_ciphertext  BLOB NOT NULL,
    secret_key_id      TEXT NOT NULL,
    allowed_events     TEXT NOT NULL,
    enabled            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (integration_id, name)
);
CREATE INDEX webhook_endpoints_key ON webhook_endpoints(secret_key_id);

-- Stored before the provider gets its 2xx; marked done only after the handler succeeded.
CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    delivery_id   TEXT NOT NULL,
    event         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    last_error    TEXT,
    received_at   INTEGER NOT NULL,
    processed_at  INTEGER,
    UNIQUE (endpoint_id, delivery_id)
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    integration_id  TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    operation       TEXT NOT NULL,
    run_type        TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    config          TEXT NOT NULL,
    counters        TEXT NOT NULL,
    error_kind      TEXT,
    error_message   TEXT,
    checkpoint      TEXT,
    workflow        TEXT,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    duration_ms     INTEGER
);
CREATE INDEX runs_integration ON runs(tenant_id, integration_id, created_at);

CREATE TABLE run_logs (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    level    TEXT NOT NULL,
    message  TEXT NOT NULL,
    fields   TEXT NOT NULL
);
CREATE INDEX run_logs_run ON run_logs(run_id, seq);

-- The durable job queue. state: queued | running | succeeded | dead | cancelled.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    queue            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    tenant_id        TEXT,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    idempotency_key  TEXT,
    worker_id        TEXT,
    lease_id         TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    UNIQUE (queue, idempotency_key)
);
CREATE INDEX jobs_ready ON jobs(queue, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX jobs_worker ON jobs(worker_id) WHERE state = 'running';

CREATE TABLE reconcile_schedules (
    integration_id   TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    operation        TEXT NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    next_run_at      INTEGER NOT NULL,
    interval_ms      INTEGER NOT NULL,
    idle_streak      INTEGER NOT NULL,
    error_streak     INTEGER NOT NULL,
    enabled          INTEGER NOT NULL,
    last_run_at      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (integration_id, operation)
);
CREATE INDEX reconcile_due ON reconcile_schedules(next_run_at) WHERE enabled = 1;
