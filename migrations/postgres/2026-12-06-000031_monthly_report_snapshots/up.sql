-- Frozen monthly reports (封存的月度运营报告): once a month has closed (HCP_REPORT_FREEZE_DAYS
-- after its last day) its report is generated once and kept here; a supervisor's regeneration
-- adds the next version and keeps the earlier ones. `figures` is the report's data as JSON,
-- `changes` (from version 2 on) what differs from the version before; `hash` (SHA-256 of the
-- figures, HTML, CSV and XLSX) is also in the audit chain. Reading a closed month reads one row.
CREATE TABLE monthly_report_snapshots (
    id BIGSERIAL PRIMARY KEY,
    month TEXT NOT NULL,
    version INTEGER NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    generated_by TEXT NOT NULL,
    reason TEXT,
    min_ratings BIGINT NOT NULL,
    figures TEXT NOT NULL,
    changes TEXT,
    html TEXT NOT NULL,
    csv TEXT NOT NULL,
    xlsx BYTEA NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (month, version)
);
