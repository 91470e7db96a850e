-- 评价标签, versioned per grade band (bad 1–2, basic 3, good 4–5): a new version is a new row,
-- never an edit, so a review's `tag_set_version` always names the tags it was offered.
-- Version 1 of each band is seeded by the service at start.
CREATE TABLE tag_sets (
    id BIGSERIAL PRIMARY KEY,
    band TEXT NOT NULL,
    version INTEGER NOT NULL,
    tags TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (band, version)
);
ALTER TABLE reviews ADD COLUMN tag_set_version INTEGER;
