-- SMS to citizens through the district's SMS gateway, by outbox: written in the transaction of
-- the change, sent later, retried, never twice for one 办件 (or complaint) and kind (dedup_key).
-- A rating link is made when the message is sent: the row holds the 办件 number, not a token.
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL,
    params TEXT NOT NULL,
    case_id BIGINT,
    transaction_no TEXT,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    sent_at TIMESTAMP,
    dead_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX sms_outbox_pending ON sms_outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
