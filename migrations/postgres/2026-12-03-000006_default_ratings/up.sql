-- 默认评价: the scanner looks for unrated transactions among those stored since its last
-- pass (an import or a late push may carry an old completion time).
CREATE INDEX transactions_created ON transactions(created_at);
