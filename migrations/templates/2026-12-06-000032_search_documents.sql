-- Full-text search (检索) over review comments, complaint texts and replies: one document per
-- text, written in the transaction that stores the text, so it is found as soon as that commits.
-- `source`: review (record_id = reviews.id), complaint (complaints.id) or reply (cases.id, the
-- case's latest reply). `department_id` follows the case's department (NULL: an unassigned
-- complaint); `stars` is the review's, for a review and for the reply to it.
-- `terms`: the text's jieba terms (search mode, the shipped user dictionary); `facets`: keys of
-- department, source, stars and month (d3 sreview g1 m202611), so that filters are looked up in
-- the same index as the words. Only the texts are here: no name or phone of a citizen.
CREATE TABLE search_documents (
    id @ID@,
    source TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    case_id BIGINT,
    transaction_no TEXT,
    department_id BIGINT,
    stars INTEGER,
    occurred_at @TS@ NOT NULL,
    text TEXT NOT NULL,
-- @sqlite
    -- Space-separated; indexed by FTS5 below.
    terms TEXT NOT NULL,
    facets TEXT NOT NULL,
-- @postgres
    terms TEXT[] NOT NULL,
    facets TEXT[] NOT NULL,
-- @both
    UNIQUE (source, record_id)
);
CREATE INDEX search_documents_case ON search_documents(case_id);
-- @sqlite
-- FTS5 (compiled into the bundled SQLite) over the table's own columns, kept in step by triggers.
CREATE VIRTUAL TABLE search_fts USING fts5(terms, facets, content='search_documents', content_rowid='id', tokenize='unicode61', columnsize=0);
CREATE TRIGGER search_documents_insert AFTER INSERT ON search_documents BEGIN
    INSERT INTO search_fts(rowid, terms, facets) VALUES (new.id, new.terms, new.facets);
END;
CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents BEGIN
    INSERT INTO search_fts(search_fts, rowid, terms, facets) VALUES ('delete', old.id, old.terms, old.facets);
END;
CREATE TRIGGER search_documents_update AFTER UPDATE OF terms, facets ON search_documents BEGIN
    INSERT INTO search_fts(search_fts, rowid, terms, facets) VALUES ('delete', old.id, old.terms, old.facets);
    INSERT INTO search_fts(rowid, terms, facets) VALUES (new.id, new.terms, new.facets);
END;
-- @postgres
-- One GIN index over both arrays: `terms @> … AND facets @> …` is one index scan.
CREATE INDEX search_documents_terms ON search_documents USING gin (terms, facets);
