-- 12345 and 国办 work orders as they come: a reply time promised by the work order itself
-- (承诺时限), duplicates merged into one case (并单), co-handling departments (协办), and each
-- return of a misrouted case (退单) with its reason, counted per returning department.
ALTER TABLE cases ADD COLUMN committed_reply_due @TS@;
ALTER TABLE cases ADD COLUMN merged_into BIGINT;
CREATE INDEX cases_merged_into ON cases (merged_into);
CREATE TABLE case_co_departments (
    case_id BIGINT NOT NULL REFERENCES cases (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    added_by TEXT NOT NULL,
    added_at @TS@ NOT NULL,
    PRIMARY KEY (case_id, department_id)
);
CREATE INDEX case_co_departments_department ON case_co_departments (department_id);
CREATE TABLE case_returns (
    id @ID@,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    reason TEXT NOT NULL,
    at @TS@ NOT NULL
);
CREATE INDEX case_returns_at ON case_returns (at);
