-- The narrow status rows were indexed by status, so every change of status left its row's
-- page and took an entry in both their indexes: three changes in a request's first minute
-- (triaged, offered, accepted), six entries. The requests that may wait (new, triaged,
-- dispatching, escalated: the waiting sweep's) now share one key, their stage, and a change
-- among them rewrites the row on its page with no index touched (a HOT update; half of each
-- page is left free for it, as in `requests`: with a fifth, half of those changes found no
-- room under load, their pages' old versions not yet prunable). Every other status is its
-- own stage, so a list by status still reads only its own rows, or for a status that may
-- wait, those that may wait.
CREATE FUNCTION request_stage(status SMALLINT) RETURNS SMALLINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN status IN (1, 2, 3, 9) THEN 0 ELSE status END;

ALTER TABLE request_statuses ADD COLUMN stage SMALLINT;
UPDATE request_statuses SET stage = request_stage(status);
ALTER TABLE request_statuses ALTER COLUMN stage SET NOT NULL;
CREATE INDEX request_statuses_stage ON request_statuses (stage, created_at DESC, id DESC);
DROP INDEX request_statuses_status;
ALTER TABLE request_statuses SET (fillfactor = 50);
ALTER TABLE request_statuses ALTER COLUMN stage SET STATISTICS 20;

CREATE OR REPLACE FUNCTION request_statuses_insert() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO request_statuses (id, status, created_at, stage)
    SELECT id, status, created_at, request_stage(status) FROM inserted;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION request_statuses_update() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE request_statuses s SET status = u.status, stage = request_stage(u.status)
    FROM updated u
    WHERE s.id = u.id AND s.status <> u.status;
    RETURN NULL;
END
$$;
