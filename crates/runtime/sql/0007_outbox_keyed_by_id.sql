-- An outbox row is found by its id (the relay's marks, the held batches' lists, housekeeping)
-- and unsent rows in their order by `outbox_unsent`; no statement finds a row by `seq` alone,
-- yet its primary key index took an entry for every event written. The id becomes the
-- primary key in place of its unique constraint, and `seq` still orders the rows (an
-- identity: unique as it is).
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_id_key, ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);
