-- Jobs still needing attention: not finished and not closed. Queues look only at these, so
-- their cost follows the live backlog rather than the whole history.
ALTER TABLE jobs ADD COLUMN open BOOLEAN NOT NULL DEFAULT true;
UPDATE jobs SET open = false
WHERE request_id IN (SELECT request_id FROM closed_requests)
   OR request_id IN (SELECT request_id FROM assignments WHERE status = 8);
CREATE INDEX jobs_open ON jobs (request_id) WHERE open;
