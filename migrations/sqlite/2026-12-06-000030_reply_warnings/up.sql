-- Reply checks (答复提示): what the checks found in the case's current reply, as a JSON list of
-- {"code","message"}; null when the reply drew no warning (or there is no reply). The
-- supervisor's audit queue flags the replies given despite a warning.
ALTER TABLE cases ADD COLUMN reply_warnings TEXT;
