-- One row per offer of a request to a group, and what became of it.
CREATE TABLE assignments (
    id               UUID PRIMARY KEY,
    request_id       UUID NOT NULL,
    group_id         UUID NOT NULL,
    status           SMALLINT NOT NULL,
    attempt          INTEGER NOT NULL,
    reference_code   TEXT NOT NULL DEFAULT '',
    category         SMALLINT NOT NULL,
    priority         SMALLINT NOT NULL,
    required_skills  SMALLINT[] NOT NULL DEFAULT '{}',
    lat              DOUBLE PRECISION NOT NULL,
    lon              DOUBLE PRECISION NOT NULL,
    settlement       TEXT NOT NULL DEFAULT '',
    district         TEXT NOT NULL DEFAULT '',
    region           TEXT NOT NULL DEFAULT '',
    distance_m       DOUBLE PRECISION NOT NULL,
    offered_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    expire_at        TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason           TEXT NOT NULL DEFAULT '',
    outcome          SMALLINT NOT NULL DEFAULT 0,
    version          BIGINT NOT NULL DEFAULT 1
);

-- Architecture invariant: at most one active (offered, accepted, en route, on site)
-- assignment per request, whatever the number of matcher replicas.
CREATE UNIQUE INDEX assignments_one_active_per_request
    ON assignments (request_id) WHERE status IN (1, 2, 6, 7);
CREATE INDEX assignments_group_status ON assignments (group_id, status);
CREATE INDEX assignments_request ON assignments (request_id, attempt);

-- Active assignments per group; the CHECK makes over-booking impossible, and the increment
-- happens in the transaction that records the offer.
CREATE TABLE group_load (
    group_id  UUID PRIMARY KEY,
    capacity  INTEGER NOT NULL,
    active    INTEGER NOT NULL DEFAULT 0,
    CHECK (active >= 0 AND active <= capacity)
);
