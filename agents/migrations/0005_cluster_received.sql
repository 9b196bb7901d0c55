-- which worker took an asset's task from the broker (before its lease): a worker that dies
-- holding tasks it had not started yet leaves them to the sweep, not to a long timeout
ALTER TABLE cluster_items ADD COLUMN received_by TEXT;
ALTER TABLE cluster_items ADD COLUMN received_at DOUBLE PRECISION
