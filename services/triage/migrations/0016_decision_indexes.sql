-- The duplicate check (store::decisions::duplicate_candidates) compares a request that has a
-- point with the earlier ones near it, and by the named place only with earlier ones that have
-- none. It read every decision of the category under the same settlement and district from
-- `decisions_same_place` and put the placed ones away row by row: a surge in one town puts
-- its calls under one name, so each new call read all of the town's calls of its kind that
-- day (a thousand of them: 2,002 index entries and rows for one call). Decisions without a
-- point have an index of their own (few: intake places most calls), and `decisions_same_place`
-- is read only for a request without a point.
CREATE INDEX decisions_same_place_unplaced ON decisions (category, place_key, request_created_at)
    WHERE merged_into IS NULL AND lat IS NULL;

-- Two indexes that no query reads, each written for every decision: `decisions_caller` is
-- the same index as `decisions_same_caller` (0009 made the duplicate check's indexes and named
-- that one again), and `decisions_category_time` served the check that read a category's
-- earliest 500 decisions of the day, which 0009 replaced by lookups of what the rule compares.
-- An index that another already answers for is caught by `komek_runtime::db::redundant_indexes`.
DROP INDEX IF EXISTS decisions_caller;
DROP INDEX IF EXISTS decisions_category_time;
