-- Row-level security: defence in depth under the tenant filters every query already has.
--
-- A transaction sees one tenant's rows when it has set `app.tenant_id` (set_config(…, true), so
-- the setting ends with the transaction), or every tenant's rows on the explicit, counted platform
-- path (`app.platform = 'on'`, with `app.platform_reason`). With neither, tenant-owned tables show
-- no rows and refuse writes. FORCE applies the policies to the tables' owner too; only superusers
-- and BYPASSRLS roles skip them, which is why the server and scheduler refuse such roles.
--
-- The application's privileges go to the group role `pytake_app` (granted by `pytake-admin
-- migrate` after every run, so new tables are covered); the role the server logs in as is a
-- member of it. Creating the group role needs CREATEROLE the first time.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pytake_app') THEN
        CREATE ROLE pytake_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created at the same moment by a migration of another database in this cluster
END
$$;

-- The tenant a transaction acts for, or NULL.
CREATE FUNCTION pytake_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

-- True on the platform path.
CREATE FUNCTION pytake_platform() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.platform', true), '') = 'on' $$;

-- The tenant row itself: a tenant sees only its own.
ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clients
    USING ((SELECT pytake_platform()) OR id = (SELECT pytake_tenant()))
    WITH CHECK ((SELECT pytake_platform()) OR id = (SELECT pytake_tenant()));

-- Every table with a tenant_id column. The sub-selects are evaluated once per statement (an
-- init plan), not per row, and the tenant's value can drive an index scan.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'audit_logs', 'client_providers', 'customers', 'active_conversations', 'chat_messages',
        'message_statuses', 'conversation_events', 'meta_signup_sessions', 'flows', 'flow_versions',
        'engine_queue', 'engine_outbox', 'module_cache', 'metrics_daily', 'metrics_tenants', 'followups'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING ((SELECT pytake_platform()) OR tenant_id = (SELECT pytake_tenant()))
            WITH CHECK ((SELECT pytake_platform()) OR tenant_id = (SELECT pytake_tenant()))$p$, t);
    END LOOP;
END
$$;
