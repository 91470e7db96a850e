-- Signed webhooks: the systems that subscribe (the 12345 hotline, a district dashboard) and
-- what is owed to each. A delivery is written in the transaction of the change it reports and
-- kept after it is delivered or dead-lettered: it is also the record of what was sent.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    event TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    case_id BIGINT,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    delivered_at TIMESTAMP,
    dead_at TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (webhook_id, delivery_id)
);
-- What is still owed, in order per subscriber and case.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, case_id, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
