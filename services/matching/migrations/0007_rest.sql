-- When a group's rest after its last job ends; the matcher takes no place from it before.
ALTER TABLE group_load ADD COLUMN rest_until TIMESTAMPTZ;
-- The outcome note and proof a group reports with a completed job.
ALTER TABLE assignments ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN proof_uri TEXT NOT NULL DEFAULT '';
