DROP INDEX IF EXISTS complaints_received;
DROP TABLE IF EXISTS topic_alerts;
DROP TABLE IF EXISTS topic_members;
DROP TABLE IF EXISTS topic_periods;
DROP TABLE IF EXISTS topics;
