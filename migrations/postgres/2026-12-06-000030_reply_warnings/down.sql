ALTER TABLE cases DROP COLUMN reply_warnings;
