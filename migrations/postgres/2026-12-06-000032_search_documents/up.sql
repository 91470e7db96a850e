-- Full-text search (检索) over review comments, complaint texts and replies: one document per
-- text, written in the transaction that stores the text, so it is found as soon as that commits.
-- `source`: review (record_id = reviews.id), complaint (complaints.id) or reply (cases.id, the
-- case's latest reply). `department_id` follows the case's department (NULL: an unassigned
-- complaint); `stars` is the review's, for a review and for the reply to it.
-- `terms`: the text's jieba terms (search mode, the shipped user dictionary); `facets`: keys of
-- department, source, stars and month (d3 sreview g1 m202611), so that filters are looked up in
-- the same index as the words. Only the texts are here: no name or phone of a citizen.
CREATE TABLE search_documents (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    case_id BIGINT,
    transaction_no TEXT,
    department_id BIGINT,
    stars INTEGER,
    occurred_at TIMESTAMP NOT NULL,
    text TEXT NOT NULL,
    terms TEXT[] NOT NULL,
    facets TEXT[] NOT NULL,
    UNIQUE (source, record_id)
);
CREATE INDEX search_documents_case ON search_documents(case_id);
-- One GIN index over both arrays: `terms @> … AND facets @> …` is one index scan.
CREATE INDEX search_documents_terms ON search_documents USING gin (terms, facets);
