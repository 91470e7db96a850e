-- Stored clustering runs (聚类分析): the run, its clusters, and which record fell where.

CREATE TABLE analysis_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    params TEXT NOT NULL,
    k INTEGER NOT NULL,
    documents INTEGER NOT NULL,
    silhouette DOUBLE PRECISION NOT NULL,
    seconds DOUBLE PRECISION NOT NULL
);

CREATE TABLE analysis_clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    run_id BIGINT NOT NULL REFERENCES analysis_runs(id),
    cluster_no INTEGER NOT NULL,
    label TEXT NOT NULL,
    size INTEGER NOT NULL,
    top_terms TEXT NOT NULL,
    samples TEXT NOT NULL,
    UNIQUE (run_id, cluster_no)
);

CREATE TABLE analysis_members (
    run_id BIGINT NOT NULL REFERENCES analysis_runs(id),
    cluster_no INTEGER NOT NULL,
    source TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (run_id, source, record_id)
);
