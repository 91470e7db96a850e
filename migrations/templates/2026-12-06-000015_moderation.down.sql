DROP INDEX reviews_held;
ALTER TABLE reviews DROP COLUMN moderation;
