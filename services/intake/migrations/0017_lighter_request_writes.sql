-- A request row is written three or four times on its way (created, triaged, offered,
-- accepted), and none of those writes can stay on the row's page (its status is indexed), so
-- each adds an entry to every index of the table. Two indexes took entries they never gave
-- back:
-- - requests_organizations (GIN): partners' lists and statistics ask whether an
--   organization is `= ANY (organizations)`, which a GIN index cannot answer; no query used it.
-- - requests_to_erase held every request not yet finished under a NULL key; the retention
--   sweep asks only for finished ones (`coalesce(closed_at, resolved_at) < $1` implies the
--   key is not NULL, so the planner still picks the narrower index).
DROP INDEX requests_organizations;
DROP INDEX requests_to_erase;
CREATE INDEX requests_to_erase ON requests ((coalesce(closed_at, resolved_at)))
    WHERE erased_at IS NULL AND coalesce(closed_at, resolved_at) IS NOT NULL;

-- A reveal is recorded by a statement that finds its request first (`store::reveal`), and
-- requests are never deleted (erasure blanks their personal data). The foreign key's check
-- repeated the find with a lock (FOR KEY SHARE) on every reveal: a write to the request's
-- page, and a wait for intake's consumer, which locks the row to apply its events.
ALTER TABLE caller_reveals DROP CONSTRAINT caller_reveals_request_id_fkey;
