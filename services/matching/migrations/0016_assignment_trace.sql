-- The trace of the request an offer was made in (W3C traceparent): the volunteer's answers and
-- the job's later steps continue it, so one trace shows a request from the call to the end.
ALTER TABLE assignments ADD COLUMN traceparent TEXT;
