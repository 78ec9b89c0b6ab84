-- A job that waits for an office to open (no group could take it but for office hours): when
-- it is to be judged again. NULL for every other job.
ALTER TABLE jobs ADD COLUMN deferred_until TIMESTAMPTZ;
CREATE INDEX jobs_deferred ON jobs (deferred_until) WHERE deferred_until IS NOT NULL;
