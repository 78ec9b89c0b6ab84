-- Where the group doing a job last reported itself, while en route or on site.
ALTER TABLE assignments ADD COLUMN position_lat DOUBLE PRECISION;
ALTER TABLE assignments ADD COLUMN position_lon DOUBLE PRECISION;
ALTER TABLE assignments ADD COLUMN position_at TIMESTAMPTZ;
