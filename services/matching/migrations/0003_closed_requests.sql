-- Requests intake closed (cancelled or merged): never offered again, whatever arrives later.
CREATE TABLE closed_requests (
    request_id  UUID PRIMARY KEY,
    status      SMALLINT NOT NULL,
    closed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
