-- An app's previous API key stays valid until previous_key_until while clients move to the
-- new one (key rotation with an overlap period).
ALTER TABLE apps ADD COLUMN previous_key_hash TEXT;
ALTER TABLE apps ADD COLUMN previous_key_until DOUBLE PRECISION;
