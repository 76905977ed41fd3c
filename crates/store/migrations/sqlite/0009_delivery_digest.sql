-- A delivery id reused with a different body is a conflict, not a duplicate: the body's SHA-256
-- is kept to tell them apart (NULL for deliveries stored before: a copy of those is taken as a
-- duplicate), and conflicts are counted on the delivery the id first named.
ALTER TABLE webhook_deliveries ADD COLUMN body_sha256 TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN conflicts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN last_conflict_at BIGINT;
