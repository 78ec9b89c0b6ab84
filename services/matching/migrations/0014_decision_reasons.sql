-- Why a request was escalated when no group was looked at (triage unsure, nothing to send, no
-- coordinates, no groups): the queue shows these reasons; candidates carry the others.
ALTER TABLE decisions ADD COLUMN reasons SMALLINT[] NOT NULL DEFAULT '{}';
