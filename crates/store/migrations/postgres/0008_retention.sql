-- Indexes of the retention sweep (crates/store/src/retention.rs): each class of rows is found by
-- the time it finished, was received or was recorded. Rows still in progress have no finish time
-- and stay out of the partial indexes, so the queue's inserts do not pay for them.
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL;
-- A run is kept while it is the newest finished one of its integration's operation; this finds
-- the newer ones (and serves runs().latest_finished and has_active).
CREATE INDEX runs_operation ON runs(tenant_id, integration_id, operation, created_at);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);
CREATE INDEX ingest_failures_created ON ingest_failures(created_at);
CREATE INDEX ingest_runs_finished ON ingest_runs(finished_at) WHERE finished_at IS NOT NULL;
