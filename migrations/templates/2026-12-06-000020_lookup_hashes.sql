-- Names and phones are sealed (AES-256-GCM) as they are written; a phone is found again by its
-- keyed hash (HMAC-SHA256 of its digits), which `haochaping rekey` recomputes under a new key.
ALTER TABLE transactions ADD COLUMN applicant_phone_hash TEXT;
ALTER TABLE complaints ADD COLUMN contact_phone_hash TEXT;
-- No index on the 办件's hash: intake would pay for a random key on every insert, and the lookup
-- starts from the cases (far fewer than 办件), reaching each case's 办件 by its primary key.
CREATE INDEX complaints_phone_hash ON complaints (contact_phone_hash) WHERE contact_phone_hash IS NOT NULL;
