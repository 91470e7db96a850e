-- A month's cases by when they were opened: the report-freeze scan asks whether a closed month
-- has any, and the monthly figures count them; without it both read the whole table.
CREATE INDEX cases_opened_at ON cases (opened_at);
