-- The search index is derived data: dropping it loses no record.
DROP TABLE IF EXISTS search_fts;
DROP TABLE IF EXISTS search_documents;
