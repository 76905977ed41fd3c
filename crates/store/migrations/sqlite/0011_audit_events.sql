-- The audit trail (crates/store/src/audit.rs): who did what to which target, when, in which
-- request, and how it ended. Rows are appended, never updated. No foreign key to tenants: a
-- deleted tenant's trail, its deletion included, stays for the operator until retention.
CREATE TABLE audit_events (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT,
    occurred_at       INTEGER NOT NULL,
    actor_kind        TEXT NOT NULL,
    actor_token_id    TEXT,
    actor_token_name  TEXT,
    request_id        TEXT,
    action            TEXT NOT NULL,
    target_type       TEXT NOT NULL,
    target_id         TEXT,
    outcome           TEXT NOT NULL,
    reason            TEXT,
    metadata          TEXT NOT NULL
);
-- A tenant's events newest first (ids are UUID v7, so id order is time order).
CREATE INDEX audit_events_tenant ON audit_events(tenant_id, id);
-- The retention sweep and the `since` filter.
CREATE INDEX audit_events_occurred ON audit_events(occurred_at);
