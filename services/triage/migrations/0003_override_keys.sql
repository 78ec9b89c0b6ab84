-- Idempotency keys of dispatcher overrides: a retried override is recognised by its audit row.
ALTER TABLE audit ADD COLUMN request_key UUID UNIQUE;
