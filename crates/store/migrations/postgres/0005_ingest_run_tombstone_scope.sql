-- What a complete ingest run tombstones: the JSON list of the models (each with the variants it is
-- restricted to, if any) whose records the run did not see, e.g.
-- [{"model":"Finding","variants":["assessment"]}]; `[]` tombstones nothing. NULL on the rows of
-- runs begun before this column existed: those tombstone the directory models when
-- directory_sync is true, as they always did.
ALTER TABLE ingest_runs ADD COLUMN tombstone_scope TEXT;
