ALTER TABLE staff DROP COLUMN active;
ALTER TABLE windows DROP COLUMN active;
ALTER TABLE service_items DROP COLUMN active;
ALTER TABLE departments DROP COLUMN active;
