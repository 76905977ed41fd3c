-- Deliveries outlive their endpoint: disconnecting or deleting an integration (which removes its
-- webhook endpoints) no longer deletes their delivery history. It is kept for the retention
-- period, listable by integration, and not processed. SQLite cannot drop a foreign key, so the
-- table is rebuilt without the one to webhook_endpoints, with the integration it came through.
CREATE TABLE webhook_deliveries_kept (
    id                TEXT PRIMARY KEY,
    endpoint_id       TEXT NOT NULL,
    integration_id    TEXT,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    delivery_id       TEXT NOT NULL,
    event             TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL,
    last_error        TEXT,
    received_at       INTEGER NOT NULL,
    processed_at      INTEGER,
    body_sha256       TEXT,
    conflicts         BIGINT NOT NULL DEFAULT 0,
    last_conflict_at  BIGINT,
    UNIQUE (endpoint_id, delivery_id)
);
INSERT INTO webhook_deliveries_kept (id, endpoint_id, integration_id, tenant_id, delivery_id,
    event, payload, status, attempts, last_error, received_at, processed_at, body_sha256,
    conflicts, last_conflict_at)
SELECT d.id, d.endpoint_id, e.integration_id, d.tenant_id, d.delivery_id, d.event, d.payload,
    d.status, d.attempts, d.last_error, d.received_at, d.processed_at, d.body_sha256,
    d.conflicts, d.last_conflict_at
FROM webhook_deliveries d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_kept RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);
CREATE INDEX webhook_deliveries_integration ON webhook_deliveries(tenant_id, integration_id, received_at);
