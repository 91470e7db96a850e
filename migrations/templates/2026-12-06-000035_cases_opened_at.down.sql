DROP INDEX IF EXISTS cases_opened_at;
