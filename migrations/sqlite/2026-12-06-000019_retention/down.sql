DROP INDEX cases_retention;
ALTER TABLE cases DROP COLUMN personal_data_erased_at;
