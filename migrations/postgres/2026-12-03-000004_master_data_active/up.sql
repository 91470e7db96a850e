-- Master data that history refers to is never deleted: a department, service item, window or
-- staff member that closes or leaves is deactivated. An inactive item, window or staff member
-- is refused for new transactions; its history, cases and statistics stay.
ALTER TABLE departments ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE service_items ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE windows ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE staff ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
