-- Tonnes to carry, kept with each offer so the next offer of the ladder checks payload too.
ALTER TABLE assignments ADD COLUMN cargo_tonnes DOUBLE PRECISION NOT NULL DEFAULT 0;
