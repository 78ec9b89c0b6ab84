-- Caller name and phone, encrypted (AES-256-GCM, nonce || ciphertext) with the key named in
-- caller_key_id; the blind index is a keyed hash of the E.164 phone.
ALTER TABLE requests
    ADD COLUMN caller_name_enc BYTEA,
    ADD COLUMN caller_phone_enc BYTEA,
    ADD COLUMN caller_key_id TEXT,
    ADD COLUMN caller_blind_index BYTEA,
    ADD CHECK ((caller_name_enc IS NULL AND caller_phone_enc IS NULL) OR caller_key_id IS NOT NULL);
CREATE INDEX requests_caller_blind_index ON requests (caller_blind_index) WHERE caller_blind_index IS NOT NULL;
