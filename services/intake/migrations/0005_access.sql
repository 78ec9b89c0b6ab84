-- Who cancelled, for the dispatch audit.
ALTER TABLE requests ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';
-- When the request was first accepted by a group, and when it was resolved: partners' statistics.
ALTER TABLE requests ADD COLUMN assigned_at TIMESTAMPTZ;
ALTER TABLE requests ADD COLUMN resolved_at TIMESTAMPTZ;
-- Organisations whose groups were offered the request: the partner scope "our groups' work".
ALTER TABLE requests ADD COLUMN organizations UUID[] NOT NULL DEFAULT '{}';
CREATE INDEX requests_organizations ON requests USING GIN (organizations);
CREATE INDEX requests_region ON requests (region, created_at DESC);

-- Every time a caller's contact was shown to a volunteer: who, for which assignment, when.
CREATE TABLE caller_reveals (
    id             BIGSERIAL PRIMARY KEY,
    request_id     UUID NOT NULL REFERENCES requests (id),
    assignment_id  UUID NOT NULL,
    volunteer      TEXT NOT NULL,
    principal      TEXT NOT NULL,
    revealed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX caller_reveals_request ON caller_reveals (request_id, revealed_at);
-- The record is append-only.
CREATE RULE caller_reveals_no_update AS ON UPDATE TO caller_reveals DO INSTEAD NOTHING;
CREATE RULE caller_reveals_no_delete AS ON DELETE TO caller_reveals DO INSTEAD NOTHING;
