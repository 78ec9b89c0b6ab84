-- What volunteers are told and how much is needed, passed on to matching with the decision.
ALTER TABLE decisions
    ADD COLUMN volunteer_note TEXT NOT NULL DEFAULT '',
    ADD COLUMN quantity_value DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN quantity_unit TEXT NOT NULL DEFAULT '';
