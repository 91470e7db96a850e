-- Integrity flags (疑似刷评). Each review keeps where it came from: a keyed hash (HMAC under the
-- instance secret, never the address itself) of the citizen's client address and of the device
-- id (the rating page's `hcp_device` cookie, or the API's `device_id`), and whether a valid staff
-- session was signed in on the same browser. The scanner clears the hashes once they are older
-- than any rule looks back.
ALTER TABLE reviews ADD COLUMN address_hash TEXT;
ALTER TABLE reviews ADD COLUMN device_hash TEXT;
ALTER TABLE reviews ADD COLUMN staff_session BOOLEAN NOT NULL DEFAULT FALSE;
-- What the burst rules and the purge read: only reviews with an origin, by storage time.
CREATE INDEX reviews_origin ON reviews (created_at) WHERE address_hash IS NOT NULL OR device_hash IS NOT NULL OR staff_session;
-- A flag for supervisors; it never hides or drops a rating. One per kind, subject and period, so
-- that scans do not repeat it: subject is `address:<hash>`, `device:<hash>`, `review:<id>`,
-- `department:<id>` or `window:<id>`; period the month (`YYYY-MM`) or a burst's first moment.
CREATE TABLE integrity_flags (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    period TEXT NOT NULL,
    department_id BIGINT REFERENCES departments (id),
    window_id BIGINT REFERENCES windows (id),
    details TEXT NOT NULL,
    last_review_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolved_by TEXT,
    resolved_at TIMESTAMP,
    note TEXT,
    UNIQUE (kind, subject, period)
);
CREATE INDEX integrity_flags_by_status ON integrity_flags (status, id);
-- The reviews a flag names (a burst's, a staff-session review).
CREATE TABLE integrity_flag_reviews (
    flag_id BIGINT NOT NULL REFERENCES integrity_flags (id),
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    PRIMARY KEY (flag_id, review_id)
);
CREATE INDEX integrity_flag_reviews_by_review ON integrity_flag_reviews (review_id);
