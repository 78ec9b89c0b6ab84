-- A request's status is written three times on its way after the insert (triaged, offered,
-- accepted), and `requests_status` indexed it: no such write of the wide row could stay on its
-- page (a HOT update), so each added an entry to every index of the table. The status and
-- its ordering key now also live in a narrow row here, indexed for the queues and the waiting
-- sweep; `requests` keeps its `status` column (every read of a request is unchanged) without
-- an index on it, so a change of status is a HOT update when the page has room.
--
-- Triggers keep the narrow rows, once per statement over its transition table (a batch of
-- requests costs one statement more, not one a row), so no writer, of this release or the
-- one before during a rolling upgrade, can leave a status behind. No foreign key: checking it
-- would lock the request row, and requests are never deleted (erasure blanks them).
CREATE TABLE request_statuses (
    id          UUID PRIMARY KEY,
    status      SMALLINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

INSERT INTO request_statuses (id, status, created_at)
SELECT id, status, created_at FROM requests;

CREATE INDEX request_statuses_status ON request_statuses (status, created_at DESC, id DESC);

-- The functions keep the schema they were made in: a statement from a session with another
-- search_path (an operator's `UPDATE intake.requests ...`) still finds the status rows.
CREATE FUNCTION request_statuses_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO request_statuses (id, status, created_at)
    SELECT id, status, created_at FROM inserted;
    RETURN NULL;
END
$$;

CREATE FUNCTION request_statuses_update() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE request_statuses s SET status = u.status
    FROM updated u
    WHERE s.id = u.id AND s.status <> u.status;
    RETURN NULL;
END
$$;

CREATE TRIGGER request_statuses_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION request_statuses_insert();

CREATE TRIGGER request_statuses_update AFTER UPDATE ON requests
    REFERENCING NEW TABLE AS updated
    FOR EACH STATEMENT EXECUTE FUNCTION request_statuses_update();

DROP INDEX requests_status;

-- Room on each page for the next versions of its rows, so the updates above stay on it: a
-- request is written three or four times in its first minutes, and with a quarter of each
-- page free three fifths of those writes stayed on it under load, with half nearly all
-- (BENCHMARKS.md, the pipeline's step 31). The price is disk: 3.4 KB a request with the
-- indexes, against 2.8 KB when every change left a dead version and index entries behind.
-- New pages only; earlier ones fill as before.
ALTER TABLE requests SET (fillfactor = 50);
