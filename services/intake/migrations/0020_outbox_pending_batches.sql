-- Held rows (events::write_outbox_held) of one transaction wait for their writer's relay here,
-- together: one row listing their ids, where outbox_pending kept a row for each (inserted,
-- indexed, then deleted once published: a third of the rows the event flow wrote). The id is
-- chosen by the writer, which hands it to its relay with the events; publishing them all
-- deletes the row. The relays of this release still read outbox_pending, for rows the release
-- before left there; that release's relays never read this table, so a batch of this
-- release is published by its writer or, after its hold, by another relay of this release.
-- Housekeeping never deletes an outbox row listed here.
CREATE TABLE outbox_pending_batches (
    id          UUID PRIMARY KEY,
    held_until  TIMESTAMPTZ NOT NULL,
    events      UUID[] NOT NULL
);
