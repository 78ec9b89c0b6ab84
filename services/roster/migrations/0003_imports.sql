-- Finished roster imports by idempotency key: a retried import returns its first report.
CREATE TABLE imports (
    request_key      UUID PRIMARY KEY,
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    response         BYTEA NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Imports find a group by its name within the organisation.
CREATE INDEX groups_org_name ON groups (organization_id, lower(display_name));
