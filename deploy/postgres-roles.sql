-- PostgreSQL roles for haochaping: run once as a superuser, `psql -v ON_ERROR_STOP=1 -f deploy/postgres-roles.sql`
-- (change both passwords first). haochaping_owner owns the schema and runs `haochaping migrate`
-- on upgrades; the service runs as haochaping_app, which reads and writes rows and can change no
-- table. tests/cli.rs runs this very file (with its own names) and starts the service as the app role.
CREATE ROLE haochaping_owner LOGIN PASSWORD 'CHANGE-ME-OWNER';
CREATE ROLE haochaping_app LOGIN PASSWORD 'CHANGE-ME-APP';
CREATE DATABASE haochaping OWNER haochaping_owner ENCODING 'UTF8' TEMPLATE template0;
\c haochaping
REVOKE ALL ON DATABASE haochaping FROM PUBLIC;
GRANT CONNECT ON DATABASE haochaping TO haochaping_owner, haochaping_app;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO haochaping_owner;
GRANT USAGE ON SCHEMA public TO haochaping_app;
-- Tables and sequences the owner's migrations create: rows only, for the app.
ALTER DEFAULT PRIVILEGES FOR ROLE haochaping_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO haochaping_app;
ALTER DEFAULT PRIVILEGES FOR ROLE haochaping_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO haochaping_app;
-- The audit chain is append-only for the service: it may add events, never change or remove one.
-- (Run after the first `haochaping migrate`, which creates the table.)
-- REVOKE UPDATE, DELETE ON audit_events FROM haochaping_app;
