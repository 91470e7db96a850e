DROP INDEX IF EXISTS transactions_created;
