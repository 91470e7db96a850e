-- Every view of a citizen's unmasked personal data (个人信息保护法; 等保 2.0 audit): who, when,
-- which case and which fields. Admins query and export it.
CREATE TABLE personal_data_views (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    username TEXT NOT NULL,
    case_id BIGINT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX personal_data_views_by_case ON personal_data_views (case_id, at);
CREATE INDEX personal_data_views_by_user ON personal_data_views (username, at);
CREATE INDEX personal_data_views_by_time ON personal_data_views (at);
