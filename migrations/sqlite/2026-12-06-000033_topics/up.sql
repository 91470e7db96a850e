-- Topics over time (问题主题): weekly clusterings of the comments matched into stable topics,
-- which comment fell in which topic, and the emerging-issue alerts raised on them.

-- A topic keeps its id and label while its centre drifts. `centroid` is a JSON object
-- term → weight (L2-normalised TF-IDF) over term strings, since each week has its own vocabulary.
CREATE TABLE topics (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    label TEXT NOT NULL,
    top_terms TEXT NOT NULL,
    centroid TEXT NOT NULL,
    -- Monday (Beijing time) of the first and of the latest week the topic was found in.
    first_period DATE NOT NULL,
    last_period DATE NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One row per topic and week it was found in: how many comments, and how like the topic's
-- centre the week's cluster was (NULL in the week the topic was born).
CREATE TABLE topic_periods (
    topic_id BIGINT NOT NULL REFERENCES topics(id),
    period_start DATE NOT NULL,
    documents INTEGER NOT NULL,
    similarity DOUBLE PRECISION,
    PRIMARY KEY (topic_id, period_start)
);

-- Each comment in at most one topic: a review's comment (`review`, reviews.id) or a complaint's
-- text (`complaint`, complaints.id). `bad`: a review of 1–2 stars (complaints have no grade).
CREATE TABLE topic_members (
    source TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    topic_id BIGINT NOT NULL REFERENCES topics(id),
    period_start DATE NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    department_id BIGINT REFERENCES departments(id),
    bad BOOLEAN NOT NULL,
    PRIMARY KEY (source, record_id)
);
CREATE INDEX topic_members_topic ON topic_members(topic_id, occurred_at);
CREATE INDEX topic_members_occurred ON topic_members(occurred_at);

-- Emerging-issue alerts (新出现的问题): `surge` (the last 7 days against the eight 7-day
-- windows before) or `new_topic`. `window_key` makes a repeated scan raise nothing twice: the
-- local day of a surge window's end, a new topic's first week.
CREATE TABLE topic_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    topic_id BIGINT NOT NULL REFERENCES topics(id),
    kind TEXT NOT NULL,
    window_key DATE NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    count INTEGER NOT NULL,
    baseline_mean DOUBLE PRECISION NOT NULL,
    baseline_sd DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    label TEXT NOT NULL,
    top_terms TEXT NOT NULL,
    samples TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (topic_id, kind, window_key)
);
CREATE INDEX topic_alerts_created ON topic_alerts(created_at);

-- A week's complaints are read by their time of receipt.
CREATE INDEX complaints_received ON complaints(received_at);
