-- Messages a consumer gave up on (komek_runtime::events, komek.ops.v1.OperationsService): kept
-- here rather than dropped, until a person replays them.
CREATE TABLE dead_letters (
    id          UUID PRIMARY KEY,
    consumer    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    error       TEXT NOT NULL,
    deliveries  INT NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at TIMESTAMPTZ,
    UNIQUE (consumer, message_id)
);
CREATE INDEX dead_letters_newest ON dead_letters (failed_at DESC, id DESC);
