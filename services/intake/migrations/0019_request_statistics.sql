-- Under a surge autovacuum analyses `requests` about once a minute, and the analyse was the
-- costliest part of its round (about a second of CPU, while the two cores were full with
-- the calls). Most of it went to the statistics of columns no query of this service filters,
-- joins, sorts or groups by: the create payload, the caller's sealed contact and index, the
-- notes and reasons written for people. The planner would use theirs only to guess how wide
-- a row is, which its default for the type does as well, so none are gathered for them; the
-- rows are still sampled for the columns whose statistics choose plans.
ALTER TABLE requests
    ALTER COLUMN create_payload SET STATISTICS 0,
    ALTER COLUMN volunteer_note SET STATISTICS 0,
    ALTER COLUMN address SET STATISTICS 0,
    ALTER COLUMN caller_name_enc SET STATISTICS 0,
    ALTER COLUMN caller_phone_enc SET STATISTICS 0,
    ALTER COLUMN caller_blind_index SET STATISTICS 0,
    ALTER COLUMN cancel_reason SET STATISTICS 0,
    ALTER COLUMN cancelled_by SET STATISTICS 0,
    ALTER COLUMN erased_by SET STATISTICS 0,
    ALTER COLUMN erase_reason SET STATISTICS 0,
    ALTER COLUMN quantity_unit SET STATISTICS 0;
