-- Rows waiting for the relay, apart from the outbox: publishing a row deletes its small
-- pending row, where it used to write the outbox row again, payload and index entries with it
-- (a change of sent_at could never be a HOT update, for the index of unsent rows named it).
-- The outbox itself is only inserted into, and pruned after a week (restore_streams
-- republishes from it).
-- No foreign key: checking one would lock the outbox row, a write of its own. Only
-- housekeeping deletes outbox rows, and never a pending one.
CREATE TABLE outbox_pending (
    seq  BIGINT PRIMARY KEY
);
INSERT INTO outbox_pending (seq) SELECT seq FROM outbox WHERE sent_at IS NULL;
DROP INDEX outbox_unsent;
ALTER TABLE outbox DROP COLUMN sent_at;

-- The incarnations of each stream that restore_streams has given the older rows back to
-- (stream names and their creation times): once each, for an outbox row no longer records
-- when it was sent.
CREATE TABLE stream_restores (
    stream          TEXT NOT NULL,
    stream_created  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream, stream_created)
);
