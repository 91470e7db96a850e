DROP INDEX complaints_phone_hash;
ALTER TABLE complaints DROP COLUMN contact_phone_hash;
ALTER TABLE transactions DROP COLUMN applicant_phone_hash;
