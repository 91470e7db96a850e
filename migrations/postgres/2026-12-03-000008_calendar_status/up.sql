-- A year's calendar is `official` (the State Council's notice, entered by an admin or shipped)
-- or `provisional` (generated from the statutory holidays until the notice is out).
ALTER TABLE calendar_years ADD COLUMN status TEXT NOT NULL DEFAULT 'official';
