-- Erasure of a finished request's personal data (caller identity, address, call note, volunteer
-- note): when, by whom ("retention" or the principal who asked) and why. The request's facts
-- stay for statistics.
ALTER TABLE requests
    ADD COLUMN erased_at     TIMESTAMPTZ,
    ADD COLUMN erased_by     TEXT NOT NULL DEFAULT '',
    ADD COLUMN erase_reason  TEXT NOT NULL DEFAULT '';
-- The retention sweep's search: requests not yet erased, by when they finished.
CREATE INDEX requests_to_erase ON requests ((coalesce(closed_at, resolved_at)))
    WHERE erased_at IS NULL;
