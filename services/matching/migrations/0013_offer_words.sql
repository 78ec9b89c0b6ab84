-- What an offer tells the group: the request's volunteer note (free of personal data), how
-- many people and how much. Kept with the job, and copied into each offer like its category.
ALTER TABLE jobs
    ADD COLUMN volunteer_note TEXT NOT NULL DEFAULT '',
    ADD COLUMN people_count INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN quantity_value DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN quantity_unit TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments
    ADD COLUMN volunteer_note TEXT NOT NULL DEFAULT '',
    ADD COLUMN people_count INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN quantity_value DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN quantity_unit TEXT NOT NULL DEFAULT '';
