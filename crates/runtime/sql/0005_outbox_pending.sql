-- Held rows (events::write_outbox_held) wait for their writer's relay here, apart from the
-- outbox: the writer inserts the outbox row with sent_at already set, so it never enters the
-- index of unsent rows, and a small row here; publishing deletes the small row, where it used
-- to write the outbox row again, payload and index entries with it (a change of sent_at is
-- never a HOT update, for the index of unsent rows names it). For these rows sent_at is the
-- time they were written. A relay of the release before reads only sent_at: it leaves these
-- rows to the relays of this release, and they publish its rows as before.
-- No foreign key: checking one would lock the outbox row, a write of its own. Housekeeping
-- never deletes an outbox row that still waits here.
CREATE TABLE outbox_pending (
    id          UUID PRIMARY KEY,
    held_until  TIMESTAMPTZ NOT NULL
);
