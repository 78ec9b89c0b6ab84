-- When the matcher will judge a request again that waits for an organisation's office hours
-- (komek.request.deferred); NULL when it never waited for them.
ALTER TABLE requests ADD COLUMN deferred_until TIMESTAMPTZ;
