-- Names and phones are sealed (AES-256-GCM) as they are written; a phone is found again by its
-- keyed hash (HMAC-SHA256 of its digits), which `haochaping rekey` recomputes under a new key.
ALTER TABLE transactions ADD COLUMN applicant_phone_hash TEXT;
ALTER TABLE complaints ADD COLUMN contact_phone_hash TEXT;
CREATE INDEX transactions_phone_hash ON transactions (applicant_phone_hash) WHERE applicant_phone_hash IS NOT NULL;
CREATE INDEX complaints_phone_hash ON complaints (contact_phone_hash) WHERE contact_phone_hash IS NOT NULL;
