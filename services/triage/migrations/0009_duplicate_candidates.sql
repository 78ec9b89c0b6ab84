-- Duplicate candidates found by what the rule compares, not by the oldest rows of a category:
-- the named place as `komek_core::duplicates::place_key` writes it (settlement and district,
-- trimmed and lowercased), and the point, narrowed by a box around the new request's.
ALTER TABLE decisions ADD COLUMN place_key TEXT;
UPDATE decisions SET place_key = lower(btrim(settlement)) || chr(31) || lower(btrim(district))
    WHERE btrim(settlement) <> '';
CREATE INDEX decisions_same_place ON decisions (category, place_key, request_created_at)
    WHERE merged_into IS NULL;
CREATE INDEX decisions_near ON decisions (category, lat, lon)
    WHERE merged_into IS NULL AND lat IS NOT NULL;
CREATE INDEX decisions_same_caller ON decisions (caller_blind_index, request_created_at)
    WHERE caller_blind_index IS NOT NULL;
