DROP TABLE IF EXISTS exchange_changes;
ALTER TABLE service_items DROP COLUMN task_code;
ALTER TABLE departments DROP COLUMN credit_code;
