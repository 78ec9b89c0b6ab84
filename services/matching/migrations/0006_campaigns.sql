-- Every triaged request as the matcher last saw it, so a campaign can place requests that are
-- not on offer (escalated while groups were busy, say) without asking other services.
CREATE TABLE jobs (
    request_id       UUID PRIMARY KEY,
    reference_code   TEXT NOT NULL,
    category         SMALLINT NOT NULL,
    priority         SMALLINT NOT NULL,
    required_skills  SMALLINT[] NOT NULL,
    lat              DOUBLE PRECISION,
    lon              DOUBLE PRECISION,
    settlement       TEXT NOT NULL DEFAULT '',
    district         TEXT NOT NULL DEFAULT '',
    region           TEXT NOT NULL DEFAULT '',
    cargo_tonnes     DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id                     UUID PRIMARY KEY,
    request_key            UUID NOT NULL UNIQUE,
    display_name           TEXT NOT NULL,
    validate_only          BOOLEAN NOT NULL,
    total_distance_m       DOUBLE PRECISION NOT NULL,
    greedy_distance_m      DOUBLE PRECISION NOT NULL,
    unassigned_count       INTEGER NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE campaign_items (
    campaign_id  UUID NOT NULL REFERENCES campaigns (id),
    position     INTEGER NOT NULL,
    request_id   UUID NOT NULL,
    group_id     UUID,
    distance_m   DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, position)
);
