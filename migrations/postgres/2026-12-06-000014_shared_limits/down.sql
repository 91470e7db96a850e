DROP TABLE IF EXISTS rate_counters;
DROP TABLE IF EXISTS sign_in_failures;
