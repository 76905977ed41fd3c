-- SCIM 2.0 push endpoints (one per integration of the scim definition) and the resources identity
-- providers provision into them. The bearer secret is stored as its SHA-256 only; after a
-- rotation the previous one keeps working until previous_valid_until.
CREATE TABLE scim_endpoints (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    integration_id        TEXT NOT NULL UNIQUE REFERENCES integrations(id) ON DELETE CASCADE,
    secret_hash           TEXT NOT NULL,
    previous_secret_hash  TEXT,
    previous_valid_until  INTEGER,
    created_at            INTEGER NOT NULL,
    rotated_at            INTEGER
);

-- Users and Groups as their SCIM JSON. unique_key is the lower-cased userName or displayName
-- (deleted resources get a key of their own, so the name can be provisioned again); deleted
-- resources are kept until their tombstone reached the directory records.
CREATE TABLE scim_resources (
    id             TEXT PRIMARY KEY,
    endpoint_id    TEXT NOT NULL REFERENCES scim_endpoints(id) ON DELETE CASCADE,
    resource_type  TEXT NOT NULL,
    unique_key     TEXT NOT NULL,
    body           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER,
    UNIQUE (endpoint_id, resource_type, unique_key)
);
