-- Requests erased in intake before triage stored their decision. Triage may hold such a
-- request's notes, read before the erasure, and be about to decide with them: the eraser,
-- holding the lock every classifying transaction shares, finds no decision to blank and leaves
-- the request's id here; the classifier blanks the words of a decision it finds here and takes
-- the row away in the transaction that stores the decision.
CREATE TABLE erased_undecided (
    request_id UUID PRIMARY KEY,
    erased_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
