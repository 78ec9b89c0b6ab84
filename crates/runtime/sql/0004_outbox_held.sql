-- Rows the writing process publishes itself the moment its transaction commits
-- (events::write_outbox_held); every relay reading the table leaves them alone until then, so
-- a row is read back and published from here only when its writer stopped before publishing.
-- NULL for rows any relay publishes at once.
ALTER TABLE outbox ADD COLUMN held_until TIMESTAMPTZ;
