-- Idempotency keys of the app's accept and decline calls: a retried call finds its row and
-- returns the assignment as it is, without acting twice.
CREATE TABLE assignment_actions (
    request_key    UUID PRIMARY KEY,
    assignment_id  UUID NOT NULL,
    action         TEXT NOT NULL,
    volunteer      TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The expiry sweep looks for open offers past their time.
CREATE INDEX assignments_open_expiry ON assignments (expire_at) WHERE status = 1;
