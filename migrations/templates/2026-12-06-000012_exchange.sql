-- The provincial data feed: the codes the platforms need on master data (统一社会信用代码 of a
-- department, 事项统一编码 of an item; the district's 区划代码 is a setting), and a log of
-- later changes to a rating's record (its 整改 status), so the feed sends it again.
ALTER TABLE departments ADD COLUMN credit_code TEXT;
ALTER TABLE service_items ADD COLUMN task_code TEXT;
CREATE TABLE exchange_changes (
    seq @ID@,
    review_id BIGINT NOT NULL,
    at @TS@ NOT NULL
);
