-- The trace an outbox row was written in (W3C traceparent), so the relay's publish and the
-- consumers' handling continue that trace. Empty when the service exports no traces.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
