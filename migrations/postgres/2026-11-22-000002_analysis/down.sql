DROP TABLE IF EXISTS analysis_members;
DROP TABLE IF EXISTS analysis_clusters;
DROP TABLE IF EXISTS analysis_runs;
