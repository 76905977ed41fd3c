-- The processes that hold the key ring and which keys each holds, refreshed by a heartbeat.
-- Online key rotation waits until every live holder has its new key before sealing with it,
-- and retires an old key only when no live holder still seals with it.
CREATE TABLE key_ring_holders (
    holder_id    TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    role         TEXT NOT NULL,
    primary_key  TEXT NOT NULL,
    key_ids      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    seen_at      INTEGER NOT NULL
);
