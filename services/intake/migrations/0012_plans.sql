-- Recurring service plans (PlanService). A plan's request template and recurrence are kept as
-- the encoded komek.intake.v1.Plan without its stops; each stop as an encoded PlanStop without
-- the caller's name and phone, which are sealed like a request's (pii.rs), bound to the stop.
CREATE TABLE plans (
    id               UUID PRIMARY KEY,
    idempotency_key  UUID NOT NULL UNIQUE,
    create_payload   BYTEA NOT NULL,
    display_name     TEXT NOT NULL,
    organization_id  UUID,
    region           TEXT NOT NULL,
    template         BYTEA NOT NULL,
    -- NULL once no occurrence is left.
    next_run_at      TIMESTAMPTZ,
    paused_at        TIMESTAMPTZ,
    pause_reason     TEXT NOT NULL DEFAULT '',
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    version          BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX plans_due ON plans (next_run_at) WHERE next_run_at IS NOT NULL AND paused_at IS NULL;
CREATE INDEX plans_list ON plans (created_at DESC, id DESC);

CREATE TABLE plan_stops (
    id               UUID PRIMARY KEY,
    plan_id          UUID NOT NULL REFERENCES plans (id),
    position         INTEGER NOT NULL,
    stop             BYTEA NOT NULL,
    caller_name_enc  BYTEA,
    caller_phone_enc BYTEA,
    caller_key_id    TEXT,
    last_request_id  UUID,
    UNIQUE (plan_id, position)
);

-- What each occurrence did for each stop: the request it made, or why it made none.
CREATE TABLE plan_runs (
    stop_id          UUID NOT NULL REFERENCES plan_stops (id),
    plan_id          UUID NOT NULL,
    occurrence_at    TIMESTAMPTZ NOT NULL,
    request_id       UUID,
    skipped_reason   TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (stop_id, occurrence_at)
);
CREATE INDEX plan_runs_plan ON plan_runs (plan_id, occurrence_at DESC, stop_id);
