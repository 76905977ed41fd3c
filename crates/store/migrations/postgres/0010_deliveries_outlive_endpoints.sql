-- Deliveries outlive their endpoint: disconnecting or deleting an integration (which removes its
-- webhook endpoints) no longer deletes their delivery history. It is kept for the retention
-- period, listable by integration, and not processed.
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_endpoint_id_fkey;
ALTER TABLE webhook_deliveries ADD COLUMN integration_id TEXT;
UPDATE webhook_deliveries d SET integration_id = e.integration_id
    FROM webhook_endpoints e WHERE e.id = d.endpoint_id;
CREATE INDEX webhook_deliveries_integration ON webhook_deliveries(tenant_id, integration_id, received_at);
