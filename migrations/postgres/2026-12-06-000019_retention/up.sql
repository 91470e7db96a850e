-- Retention of personal data: a case closed more than HCP_RETENTION_YEARS ago has its citizen's
-- name, phone and e-mail erased by the scanner; this marks the cases done (and audited).
ALTER TABLE cases ADD COLUMN personal_data_erased_at TIMESTAMP;
CREATE INDEX cases_retention ON cases (closed_at) WHERE personal_data_erased_at IS NULL;
