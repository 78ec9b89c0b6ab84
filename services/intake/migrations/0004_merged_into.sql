-- The request a duplicate was merged into, set when triage reports a dispatcher's merge.
ALTER TABLE requests ADD COLUMN merged_into UUID;
