-- What dispatchers did by hand: who, what, when, why. Append-only.
CREATE TABLE dispatch_audit (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The call's idempotency key; a retry finds its entry and changes nothing.
    request_key    UUID UNIQUE,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    request_id     UUID NOT NULL,
    assignment_id  UUID,
    group_id       UUID,
    reason         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_audit_request ON dispatch_audit (request_id, id);
CREATE RULE dispatch_audit_no_update AS ON UPDATE TO dispatch_audit DO INSTEAD NOTHING;
CREATE RULE dispatch_audit_no_delete AS ON DELETE TO dispatch_audit DO INSTEAD NOTHING;

-- Queues read the latest assignment of each job.
CREATE INDEX assignments_request_latest ON assignments (request_id, offered_at DESC, id DESC);
