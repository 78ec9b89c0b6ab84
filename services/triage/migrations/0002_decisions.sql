-- The current decision per request.
CREATE TABLE decisions (
    request_id             UUID PRIMARY KEY,
    reference_code         TEXT NOT NULL,
    category               SMALLINT NOT NULL,
    priority               SMALLINT NOT NULL,
    required_skills        SMALLINT[] NOT NULL,
    confidence             DOUBLE PRECISION NOT NULL,
    -- "rule_id=term|term" per fired rule.
    fired_rules            TEXT[] NOT NULL,
    rules_version          TEXT NOT NULL,
    overridden             BOOLEAN NOT NULL DEFAULT false,
    possible_duplicate_of  UUID,
    -- What the matcher needs to place the request, copied from request.created.
    lat                    DOUBLE PRECISION,
    lon                    DOUBLE PRECISION,
    settlement             TEXT NOT NULL DEFAULT '',
    district               TEXT NOT NULL DEFAULT '',
    region                 TEXT NOT NULL DEFAULT '',
    people_count           INTEGER NOT NULL DEFAULT 0,
    cargo_tonnes           DOUBLE PRECISION NOT NULL DEFAULT 0,
    decided_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    version                BIGINT NOT NULL DEFAULT 1
);

-- Every decision and override, never updated or deleted.
CREATE TABLE audit (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id   UUID NOT NULL,
    actor        TEXT NOT NULL,
    category     SMALLINT NOT NULL,
    priority     SMALLINT NOT NULL,
    required_skills SMALLINT[] NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_request ON audit (request_id, seq);
CREATE RULE audit_no_update AS ON UPDATE TO audit DO INSTEAD NOTHING;
CREATE RULE audit_no_delete AS ON DELETE TO audit DO INSTEAD NOTHING;
