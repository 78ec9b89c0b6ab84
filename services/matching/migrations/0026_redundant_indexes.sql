-- Every statement that reads a request's assignments looks them up by `request_id` alone (and
-- filters or orders by status, time or id), which `assignments_request_latest` and the
-- partial indexes of active assignments answer; none orders or bounds by `attempt`. So
-- `assignments_request (request_id, attempt)` served no lookup those do not, and took an
-- entry at every offer and at every change of status (a new row version: the status is
-- indexed).
DROP INDEX IF EXISTS assignments_request;
