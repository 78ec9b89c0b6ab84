CREATE TABLE organizations (
    id               UUID PRIMARY KEY,
    idempotency_key  UUID NOT NULL UNIQUE,
    create_payload   BYTEA NOT NULL,
    display_name     TEXT NOT NULL,
    kind             SMALLINT NOT NULL,
    regions          TEXT[] NOT NULL DEFAULT '{}',
    contact_email    TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    version          BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE groups (
    id                   UUID PRIMARY KEY,
    idempotency_key      UUID NOT NULL UNIQUE,
    create_payload       BYTEA NOT NULL,
    organization_id      UUID NOT NULL REFERENCES organizations (id),
    display_name         TEXT NOT NULL,
    lat                  DOUBLE PRECISION NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                  DOUBLE PRECISION NOT NULL CHECK (lon BETWEEN -180 AND 180),
    settlement           TEXT NOT NULL DEFAULT '',
    district             TEXT NOT NULL DEFAULT '',
    region               TEXT NOT NULL DEFAULT '',
    radius_km            DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (radius_km >= 0),
    districts            TEXT[] NOT NULL DEFAULT '{}',
    -- Parallel arrays, one entry per skill.
    skills               SMALLINT[] NOT NULL DEFAULT '{}',
    skill_certified_until TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    skill_payload_tonnes DOUBLE PRECISION[] NOT NULL DEFAULT '{}',
    languages            SMALLINT[] NOT NULL DEFAULT '{}',
    capacity             INTEGER NOT NULL CHECK (capacity > 0),
    -- komek.types.v1.WeeklySchedule, encoded; interpreted by the matcher.
    schedule             BYTEA,
    availability         SMALLINT NOT NULL,
    last_lat             DOUBLE PRECISION,
    last_lon             DOUBLE PRECISION,
    last_location_at     TIMESTAMPTZ,
    rest_minutes         INTEGER NOT NULL DEFAULT 0 CHECK (rest_minutes >= 0),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Also the revision of the published group state.
    version              BIGINT NOT NULL DEFAULT 1,
    CHECK (cardinality(skills) = cardinality(skill_certified_until)
       AND cardinality(skills) = cardinality(skill_payload_tonnes))
);
CREATE INDEX groups_org ON groups (organization_id, created_at, id);

CREATE TABLE volunteers (
    id               UUID PRIMARY KEY,
    idempotency_key  UUID NOT NULL UNIQUE,
    create_payload   BYTEA NOT NULL,
    display_name     TEXT NOT NULL,
    languages        SMALLINT[] NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    version          BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE group_members (
    group_id      UUID NOT NULL REFERENCES groups (id),
    volunteer_id  UUID NOT NULL REFERENCES volunteers (id),
    PRIMARY KEY (group_id, volunteer_id)
);
CREATE INDEX group_members_volunteer ON group_members (volunteer_id);
