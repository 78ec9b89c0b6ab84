-- Transactional outbox and consumer inbox, identical in every service's schema.
-- A service writes its state change and the outbox row in one transaction; the relay publishes
-- each row to JetStream with Nats-Msg-Id = id and sets sent_at only after the PubAck.
CREATE TABLE outbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          UUID NOT NULL UNIQUE,
    subject     TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;

-- One row per message a consumer has applied, written in the same transaction as the effect,
-- so a redelivered message is recognised and skipped.
CREATE TABLE inbox (
    consumer     TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
