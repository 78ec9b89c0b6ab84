-- Explanations of the fired rules, parallel to fired_rules.
ALTER TABLE decisions ADD COLUMN fired_explanations TEXT[] NOT NULL DEFAULT '{}';
-- What duplicate detection compares: the caller's blind index (a keyed hash; the phone itself
-- never reaches triage) and when the request was created.
ALTER TABLE decisions ADD COLUMN caller_blind_index BYTEA;
ALTER TABLE decisions ADD COLUMN request_created_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- Set once by a dispatcher's merge.
ALTER TABLE decisions ADD COLUMN merged_into UUID;
CREATE INDEX decisions_caller ON decisions (caller_blind_index, request_created_at)
    WHERE caller_blind_index IS NOT NULL;
CREATE INDEX decisions_category_time ON decisions (category, request_created_at);
