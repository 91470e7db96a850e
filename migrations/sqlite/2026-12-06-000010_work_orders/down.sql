DROP TABLE IF EXISTS case_returns;
DROP TABLE IF EXISTS case_co_departments;
DROP INDEX IF EXISTS cases_merged_into;
ALTER TABLE cases DROP COLUMN merged_into;
ALTER TABLE cases DROP COLUMN committed_reply_due;
