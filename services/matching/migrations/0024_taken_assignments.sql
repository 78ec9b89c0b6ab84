-- Assignments accepted (2) or on site (7), by when they got there: the only ones that can be
-- overdue. The dispatchers' queues and their gauge (store::queue) find overdue jobs here
-- rather than by judging every open job, which under a surge (tens of thousands of jobs that
-- groups have accepted) took seconds of the database each time.
CREATE INDEX assignments_taken_since ON assignments (updated_at) WHERE status IN (2, 7);
