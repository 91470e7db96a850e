-- Sign-in limits and citizen-rating quotas kept in the database, so that every `serve` instance
-- behind a load balancer counts the same attempts (SPEC §8). Rows older than the longest window
-- are pruned by the scanner.
-- A sign-in attempt is written here before its password is checked and deleted when it
-- succeeds, so parallel guesses count as failures while they run.
CREATE TABLE sign_in_failures (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, failed_at);
CREATE INDEX sign_in_failures_by_username ON sign_in_failures (username, address, failed_at);
-- Fixed one-minute windows: hits of one bucket (an address's sign-ins, an address's ratings,
-- a username's attempts from addresses that have failed for it) in the window starting at
-- window_start (Unix seconds).
CREATE TABLE rate_counters (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
