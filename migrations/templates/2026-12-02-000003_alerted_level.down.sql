DROP INDEX cases_alert_scan;
ALTER TABLE cases DROP COLUMN alerted_level;
