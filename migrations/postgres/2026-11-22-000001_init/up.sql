-- One schema for both backends; BIGSERIAL PRIMARY KEY, TIMESTAMP and friends are filled in per backend by
-- migrations/generate.sh so the two trees cannot drift apart.
-- Instants are stored as UTC without zone (diesel `Timestamp` works on both backends);
-- the API renders them in Asia/Shanghai.

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE departments (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES departments(id),
    email TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE service_items (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department_id BIGINT NOT NULL REFERENCES departments(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX service_items_department ON service_items(department_id);

CREATE TABLE windows (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    hall TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE staff (
    id BIGSERIAL PRIMARY KEY,
    staff_no TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department_id BIGINT NOT NULL REFERENCES departments(id),
    created_at TIMESTAMP NOT NULL
);

-- 三对应: which staff sits at which window handling which items, and when.
CREATE TABLE assignments (
    id BIGSERIAL PRIMARY KEY,
    window_id BIGINT NOT NULL REFERENCES windows(id),
    staff_id BIGINT NOT NULL REFERENCES staff(id),
    effective_from TIMESTAMP NOT NULL,
    effective_to TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX assignments_window ON assignments(window_id, effective_from);
CREATE INDEX assignments_staff ON assignments(staff_id, effective_from);

CREATE TABLE assignment_items (
    assignment_id BIGINT NOT NULL REFERENCES assignments(id),
    service_item_id BIGINT NOT NULL REFERENCES service_items(id),
    PRIMARY KEY (assignment_id, service_item_id)
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    department_id BIGINT REFERENCES departments(id),
    email TEXT,
    created_at TIMESTAMP NOT NULL
);

-- Bearer tokens from login, stored as SHA-256 of the random token.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE transactions (
    id BIGSERIAL PRIMARY KEY,
    transaction_no TEXT NOT NULL UNIQUE,
    service_item_id BIGINT NOT NULL REFERENCES service_items(id),
    department_id BIGINT NOT NULL REFERENCES departments(id),
    window_id BIGINT REFERENCES windows(id),
    staff_id BIGINT REFERENCES staff(id),
    channel TEXT NOT NULL,
    applicant_name TEXT,
    applicant_phone TEXT,
    applicant_email TEXT,
    accepted_at TIMESTAMP,
    completed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX transactions_completed ON transactions(completed_at);
CREATE INDEX transactions_department ON transactions(department_id, completed_at);

-- 一事一评: the UNIQUE on transaction_id is the rule itself.
CREATE TABLE reviews (
    id BIGSERIAL PRIMARY KEY,
    transaction_id BIGINT NOT NULL UNIQUE REFERENCES transactions(id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    channel TEXT NOT NULL,
    tags TEXT NOT NULL,
    comment TEXT,
    anonymous BOOLEAN NOT NULL,
    is_public BOOLEAN NOT NULL,
    invalidated BOOLEAN NOT NULL,
    department_id BIGINT NOT NULL REFERENCES departments(id),
    service_item_id BIGINT NOT NULL REFERENCES service_items(id),
    window_id BIGINT REFERENCES windows(id),
    staff_id BIGINT REFERENCES staff(id),
    rated_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reviews_rated ON reviews(rated_at);
CREATE INDEX reviews_department ON reviews(department_id, rated_at);

CREATE TABLE complaints (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    external_no TEXT NOT NULL,
    title TEXT,
    content TEXT NOT NULL,
    contact_name TEXT,
    contact_phone TEXT,
    received_at TIMESTAMP NOT NULL,
    department_id BIGINT REFERENCES departments(id),
    service_item_id BIGINT REFERENCES service_items(id),
    transaction_id BIGINT REFERENCES transactions(id),
    routed_by TEXT NOT NULL,
    route_suggestions TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (source, external_no)
);

CREATE TABLE cases (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    review_id BIGINT UNIQUE REFERENCES reviews(id),
    complaint_id BIGINT UNIQUE REFERENCES complaints(id),
    department_id BIGINT REFERENCES departments(id),
    window_id BIGINT REFERENCES windows(id),
    staff_id BIGINT REFERENCES staff(id),
    state TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    feedback_due TIMESTAMP,
    reply_due TIMESTAMP,
    supervision_due TIMESTAMP,
    -- Due time of the stage whose clock runs now (null when none runs): the scanner's index.
    stage_due TIMESTAMP,
    extension TEXT NOT NULL,
    -- When the department's clock started: opening, or the latest reassignment or reopening.
    cycle_started_at TIMESTAMP NOT NULL,
    reply_text TEXT,
    replied_at TIMESTAMP,
    closed_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cases_state ON cases(state, department_id);
CREATE INDEX cases_stage_due ON cases(stage_due);
CREATE INDEX cases_department ON cases(department_id, opened_at);

-- Hash-chained audit log: case transitions and admin changes. Each row stores the hash of the
-- previous row, so an edit or deletion behind the application's back breaks the chain.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT REFERENCES cases(id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    note TEXT,
    detail TEXT,
    at TIMESTAMP NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_case ON audit_events(case_id, id);

-- 追评 (addendum within 7 days) and 回访满意度 (how the case was handled), linked to the review.
CREATE TABLE review_follow_ups (
    id BIGSERIAL PRIMARY KEY,
    review_id BIGINT NOT NULL REFERENCES reviews(id),
    kind TEXT NOT NULL,
    stars INTEGER,
    satisfaction TEXT,
    comment TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX review_follow_ups_review ON review_follow_ups(review_id, kind);

CREATE TABLE calendar_days (
    day DATE PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL
);

-- Years whose calendar is in calendar_days (seeded from the official data or set by an admin).
CREATE TABLE calendar_years (
    year INTEGER PRIMARY KEY NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE sla_policies (
    source TEXT PRIMARY KEY NOT NULL,
    feedback_days INTEGER NOT NULL,
    reply_days INTEGER NOT NULL,
    extended_reply_days INTEGER NOT NULL,
    supervision_days INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per alert raised; the UNIQUE makes the scanner idempotent across runs and instances.
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    level TEXT NOT NULL,
    stage TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    raised_at TIMESTAMP NOT NULL,
    UNIQUE (case_id, level, stage, due_at)
);
CREATE INDEX alerts_raised ON alerts(raised_at);

-- Email outbox, written in the same transaction as the change that causes the mail.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    case_id BIGINT REFERENCES cases(id),
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    sent_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(sent_at, next_attempt_at);
