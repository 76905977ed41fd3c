-- Ingested records of the internal models, the ingest runs that wrote them (directory syncs
-- among them) and the payloads that failed mapping. Times are Unix epoch milliseconds, JSON is
-- TEXT (the encodings of every table of the store).

-- One row per record of any model, identified within its integration by its lookup key.
CREATE TABLE ingest_records (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    integration_id    TEXT NOT NULL,
    model             TEXT NOT NULL,
    -- The lookup key's value, or the JSON array of the values of a composite lookup key.
    lookup_key        TEXT NOT NULL,
    variant           TEXT NOT NULL DEFAULT '',
    fields            TEXT NOT NULL,
    raw_payload       TEXT NOT NULL,
    -- SHA-256 of the canonical JSON of fields and raw payload: equal means unchanged.
    content_hash      TEXT NOT NULL,
    -- DirectoryMembership only: the account and group records the external ids resolved to.
    account_record_id TEXT,
    group_record_id   TEXT,
    first_seen_at     BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    changed_at        BIGINT NOT NULL,
    created_run_id    TEXT,
    changed_run_id    TEXT,
    last_run_id       TEXT,
    -- Token of the statement that last inserted or changed the row; tells the writer which of
    -- its rows were created, updated or left unchanged.
    write_token       TEXT NOT NULL,
    deleted_at        BIGINT,
    deleted_reason    TEXT,
    -- Set by the runtime when the integration is disconnected; cleared on the next write.
    disconnected_at   BIGINT,
    UNIQUE (tenant_id, integration_id, model, lookup_key)
);

-- Listing a tenant's records of a model. Listing one integration's records and tombstoning use
-- the unique index's (tenant_id, integration_id, model) prefix: every extra index is one more
-- b-tree written by each upsert.
CREATE INDEX ingest_records_by_model ON ingest_records (tenant_id, model, id);

-- One row per ingest run: a directory sync, or any other batch of ingest payloads.
CREATE TABLE ingest_runs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    -- The operation run or webhook delivery run that produced the payloads, if any.
    run_id          TEXT,
    directory_sync  BOOLEAN NOT NULL,
    -- running, completed, partial or failed
    status          TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    error           TEXT,
    seen            BIGINT NOT NULL DEFAULT 0,
    created         BIGINT NOT NULL DEFAULT 0,
    updated         BIGINT NOT NULL DEFAULT 0,
    unchanged       BIGINT NOT NULL DEFAULT 0,
    filtered        BIGINT NOT NULL DEFAULT 0,
    failed          BIGINT NOT NULL DEFAULT 0,
    tombstoned      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX ingest_runs_by_integration ON ingest_runs (tenant_id, integration_id, started_at);

-- Payloads that did not become records, kept for inspection.
CREATE TABLE ingest_failures (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    integration_id  TEXT NOT NULL,
    ingest_run_id   TEXT,
    run_id          TEXT,
    schema_name     TEXT NOT NULL,
    variant         TEXT NOT NULL,
    mapping         TEXT NOT NULL,
    payload_index   BIGINT NOT NULL,
    code            TEXT NOT NULL,
    failed_key      TEXT,
    reason          TEXT NOT NULL,
    raw_payload     TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX ingest_failures_by_integration ON ingest_failures (tenant_id, integration_id, id);
CREATE INDEX ingest_failures_by_run ON ingest_failures (ingest_run_id);
