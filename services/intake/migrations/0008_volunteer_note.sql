-- What volunteers are told: the operator's text for them, or the note with what is personal cut
-- out. Requests recorded before have none; their offers say only what triage decided.
ALTER TABLE requests ADD COLUMN volunteer_note TEXT NOT NULL DEFAULT '';
