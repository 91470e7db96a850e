-- 审核状态 of a review's public comment (the provincial codes): 1 无需审核, 2 已审核, 3 未审核.
-- A public comment with a phrase from the district's list waits (3) for a supervisor, who
-- publishes it or keeps it private (2); only then, or when it needed no review (1), is it shown.
ALTER TABLE reviews ADD COLUMN moderation INTEGER NOT NULL DEFAULT 1;
CREATE INDEX reviews_held ON reviews (id) WHERE moderation = 3;
