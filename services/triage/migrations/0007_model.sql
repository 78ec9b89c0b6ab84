-- The statistical model beside the rules: which version took part, whether the note was left
-- unclassified for a dispatcher, and the note itself with phone numbers, e-mail addresses and
-- document numbers cut out, so that a dispatcher's override becomes a labelled example.
ALTER TABLE decisions
    ADD COLUMN model_version TEXT NOT NULL DEFAULT '',
    ADD COLUMN unclassified BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN note TEXT NOT NULL DEFAULT '';
