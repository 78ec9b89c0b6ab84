-- The alert of a request that waits in its state past its limit (komek_core::waiting): which
-- wait it was for (the moment it began), how many alerts it has had, the limit it was held to.
-- A wait that has ended leaves these behind; they describe the current wait only while
-- `waiting_since` is still when the current one began.
ALTER TABLE requests
    ADD COLUMN waiting_since       TIMESTAMPTZ,
    ADD COLUMN waiting_alerts      INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN waiting_limit_secs  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN waiting_alerted_at  TIMESTAMPTZ;
CREATE INDEX requests_waiting ON requests (waiting_since) WHERE waiting_since IS NOT NULL;
