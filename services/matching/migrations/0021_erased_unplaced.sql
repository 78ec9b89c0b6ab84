-- Requests erased in intake before matching stored their job. Matching may hold such a
-- request's volunteer note, read before the erasure, and be about to place it: the eraser,
-- holding the lock every placing transaction shares, finds no job to blank and leaves the
-- request's id here; the placing transaction finds it, places the job without its note and
-- takes the row away.
CREATE TABLE erased_unplaced (
    request_id UUID PRIMARY KEY,
    erased_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
