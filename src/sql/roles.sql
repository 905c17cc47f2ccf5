-- recsys extension script, assembled from src/sql/ (see src/sql/files.txt).
\echo Use "CREATE EXTENSION recsys" to load this file. \quit

-- Roles (cluster-wide, so created only when missing and left in place by DROP EXTENSION):
--   recsys_reader        serving functions and read access to the catalogue of its org
--   recsys_writer        reader + ingestion (JSON functions, INSERT/COPY into base tables)
--   recsys_admin         writer + namespace maintenance, role mapping, SET recsys.org_id
--   recsys_auditor       read access to the audit trail of its org
--   recsys_monitor       the metrics of every org (recsys.metrics), for the metrics exporter
--   recsys_authenticator the login role of PostgREST is granted this; only sessions started by
--                        such a role have their request.jwt.claims trusted
DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['recsys_reader', 'recsys_writer', 'recsys_admin',
                                     'recsys_auditor', 'recsys_monitor', 'recsys_authenticator'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$roles$;

GRANT recsys_reader TO recsys_writer;
GRANT recsys_writer TO recsys_admin;
GRANT recsys_auditor TO recsys_admin;
GRANT USAGE ON SCHEMA recsys TO recsys_reader, recsys_auditor, recsys_monitor;
