-- What intake has heard about each request, by when it happened, so that its status follows from
-- the events whatever order they arrive in (komek_core::standing). The assignment's facts are
-- the assignment_* columns.
ALTER TABLE requests
    ADD COLUMN triaged_at   TIMESTAMPTZ,
    ADD COLUMN escalated_at TIMESTAMPTZ,
    ADD COLUMN closed_at    TIMESTAMPTZ;

-- Requests from before: their last change stands in for when each fact was heard.
UPDATE requests SET triaged_at = updated_at WHERE category <> 0;
UPDATE requests SET escalated_at = updated_at WHERE status = 9;
UPDATE requests SET closed_at = updated_at WHERE status IN (8, 10);
