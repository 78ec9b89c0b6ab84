-- `requests_caller_blind_index` (0003) indexes the caller's blind index, but no statement of
-- intake reads requests by it: a repeat caller is found by triage among its own decisions
-- (`decisions_same_caller`). It took an entry for every request with a caller's phone.
DROP INDEX IF EXISTS requests_caller_blind_index;
