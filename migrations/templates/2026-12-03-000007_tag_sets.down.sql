ALTER TABLE reviews DROP COLUMN tag_set_version;
DROP TABLE IF EXISTS tag_sets;
