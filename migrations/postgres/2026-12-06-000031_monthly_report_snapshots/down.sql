DROP TABLE IF EXISTS monthly_report_snapshots;
