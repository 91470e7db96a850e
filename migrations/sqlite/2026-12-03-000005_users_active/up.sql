-- A user who leaves is disabled, not deleted: the audit chain names them. A disabled user
-- cannot sign in, and their tokens and page sessions are revoked when they are disabled.
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
