-- A staff session ends after 30 minutes without a request (等保 2.0 会话超时): the last request
-- seen with the token, written at most once a minute. Null: none since sign-in (created_at).
ALTER TABLE auth_tokens ADD COLUMN last_seen_at TIMESTAMP;
