ALTER TABLE auth_tokens DROP COLUMN last_seen_at;
