DROP TABLE IF EXISTS integrity_flag_reviews;
DROP TABLE IF EXISTS integrity_flags;
DROP INDEX reviews_origin;
ALTER TABLE reviews DROP COLUMN staff_session;
ALTER TABLE reviews DROP COLUMN device_hash;
ALTER TABLE reviews DROP COLUMN address_hash;
