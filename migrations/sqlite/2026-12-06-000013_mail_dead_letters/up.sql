-- A mail that used up its attempts stops being retried (dead letter) until an admin sends it again.
ALTER TABLE outbox ADD COLUMN dead_at TIMESTAMP;
