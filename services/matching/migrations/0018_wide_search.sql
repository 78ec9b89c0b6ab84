-- Wide searches (komek_core::wide): a critical search is offered to several groups at once.
-- A wide assignment knows its round and whether it leads the search.
ALTER TABLE assignments
    ADD COLUMN wide          BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN search_round  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN lead          BOOLEAN NOT NULL DEFAULT false;

-- Architecture invariant, as it now reads: a request offered to one group at a time has at
-- most one active (offered, accepted, en route, on site) assignment; a wide search has at most
-- one active assignment per group, and at most one lead that is accepted, on its way, on site
-- or done.
DROP INDEX assignments_one_active_per_request;
CREATE UNIQUE INDEX assignments_one_active_per_request
    ON assignments (request_id) WHERE status IN (1, 2, 6, 7) AND NOT wide;
CREATE UNIQUE INDEX assignments_one_active_per_group_of_a_wide_search
    ON assignments (request_id, group_id) WHERE status IN (1, 2, 6, 7) AND wide;
CREATE UNIQUE INDEX assignments_one_lead
    ON assignments (request_id) WHERE lead AND status IN (2, 6, 7, 8);

-- A job placed while intake could not give its volunteer note: the note is fetched later and
-- written into the job and its offers.
ALTER TABLE jobs ADD COLUMN note_pending BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX jobs_note_pending ON jobs (request_id) WHERE note_pending;
