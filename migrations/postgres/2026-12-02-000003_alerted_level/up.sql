-- The highest alert the scanner has raised on the case's current stage deadline: 0 none,
-- 1 due_soon (黄灯), 2 overdue (红灯), 3 escalated (督办). A new deadline sets it back to 0.
-- With the index, a routine scan reads only the cases that crossed a threshold since the last
-- one, instead of every overdue case of the backlog.
ALTER TABLE cases ADD COLUMN alerted_level INTEGER NOT NULL DEFAULT 0;

UPDATE cases SET alerted_level = COALESCE((
    SELECT MAX(CASE a.level WHEN 'due_soon' THEN 1 WHEN 'overdue' THEN 2 WHEN 'escalated' THEN 3 ELSE 0 END)
    FROM alerts a
    WHERE a.case_id = cases.id
      AND a.due_at = cases.stage_due
      AND a.stage = CASE cases.state WHEN 'feedback' THEN 'feedback' WHEN 'supervision' THEN 'supervision' ELSE 'reply' END
), 0)
WHERE stage_due IS NOT NULL;

CREATE INDEX cases_alert_scan ON cases(alerted_level, stage_due);
