-- API keys. The secret is never stored: only its HMAC under the deployment's key pepper.
CREATE TABLE api_keys (
    id               UUID PRIMARY KEY,
    idempotency_key  UUID NOT NULL UNIQUE,
    create_payload   BYTEA NOT NULL,
    display_name     TEXT NOT NULL,
    role             SMALLINT NOT NULL,
    subject          TEXT NOT NULL,
    regions          TEXT[] NOT NULL DEFAULT '{}',
    secret_hash      BYTEA NOT NULL,
    expire_at        TIMESTAMPTZ,
    creator          TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at       TIMESTAMPTZ,
    revoke_reason    TEXT NOT NULL DEFAULT '',
    revision         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX api_keys_subject ON api_keys (subject, id);
