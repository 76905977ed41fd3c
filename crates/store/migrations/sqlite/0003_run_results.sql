-- The result a queued operation returned (a raw operation's JSON output), kept on its run so a
-- caller who queued it can read it later.
ALTER TABLE runs ADD COLUMN result TEXT;
