ALTER TABLE calendar_years DROP COLUMN status;
