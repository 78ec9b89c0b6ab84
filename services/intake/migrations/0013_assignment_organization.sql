-- The organisation of the group of the request's latest assignment, for statistics by
-- organisation (its name as it was when the group was offered the request).
ALTER TABLE requests
    ADD COLUMN assignment_organization      UUID,
    ADD COLUMN assignment_organization_name TEXT NOT NULL DEFAULT '';
