-- Tenancy: every row carries (org_id, namespace); the org always comes from the caller.

-- The role that called in, ignoring SECURITY DEFINER (the session's role after SET ROLE).
CREATE FUNCTION recsys.caller_role() RETURNS oid
    AS 'MODULE_PATHNAME', 'recsys_caller_role' LANGUAGE C STABLE PARALLEL SAFE;

-- SQL login roles mapped to an organisation.
CREATE TABLE recsys.role_orgs (
    role_name name PRIMARY KEY,
    org_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The caller's organisation: recsys.org_id for recsys_admin members, else the JWT claim org_id
-- (trusted only in sessions whose login role is a member of recsys_authenticator), else the
-- role mapping. Raises 42501 when none applies.
CREATE FUNCTION recsys.current_org() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller oid := recsys.caller_role();
    chosen text := current_setting('recsys.org_id', true);
    claims text := current_setting('request.jwt.claims', true);
    claim text;
    org uuid;
BEGIN
    IF coalesce(chosen, '') <> '' THEN
        IF NOT pg_has_role(caller, 'recsys_admin', 'MEMBER') THEN
            RAISE EXCEPTION 'permission denied to use recsys.org_id'
                USING ERRCODE = '42501',
                      DETAIL = format('Role %s is not a member of recsys_admin.', caller::regrole),
                      HINT = 'Other roles get their organisation from their JWT claim or from recsys_map_role.';
        END IF;
        RETURN chosen::uuid;
    END IF;
    IF coalesce(claims, '') <> '' AND pg_has_role(session_user, 'recsys_authenticator', 'MEMBER') THEN
        IF claims !~ '^\s*\{' OR NOT claims::jsonb ? 'org_id' THEN
            RAISE EXCEPTION 'the JWT carries no org_id claim' USING ERRCODE = '42501';
        END IF;
        claim := claims::jsonb ->> 'org_id';
        IF claim IS NULL OR claim !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'the JWT claim org_id is not a UUID' USING ERRCODE = '42501';
        END IF;
        RETURN claim::uuid;
    END IF;
    SELECT r.org_id INTO org FROM recsys.role_orgs r JOIN pg_roles p ON p.rolname = r.role_name
     WHERE p.oid = caller;
    IF org IS NULL THEN
        RAISE EXCEPTION 'role % is not mapped to an organisation', caller::regrole
            USING ERRCODE = '42501',
                  HINT = 'A recsys_admin maps SQL roles with recsys_map_role(role, org_id); PostgREST requests carry the org_id claim in their JWT.';
    END IF;
    RETURN org;
END
$$;

-- Maps an SQL login role to an organisation (recsys_admin only).
CREATE FUNCTION recsys.recsys_map_role(role regrole, org_id uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO recsys.role_orgs (role_name, org_id) SELECT rolname, $2 FROM pg_roles WHERE oid = $1
    ON CONFLICT (role_name) DO UPDATE SET org_id = excluded.org_id, created_at = now();
$$;

-- Removes a role's organisation mapping (recsys_admin only).
CREATE FUNCTION recsys.recsys_unmap_role(role regrole) RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (DELETE FROM recsys.role_orgs WHERE role_name = (SELECT rolname FROM pg_roles WHERE oid = $1) RETURNING 1)
    SELECT count(*) > 0 FROM gone;
$$;

-- Row-level security on the given tables of schema recsys: a caller sees and changes only the
-- rows of its own organisation (policy tenant_isolation). Used by every file that creates
-- tenant tables.
CREATE FUNCTION recsys._isolate_tenants(tables text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE recsys.%I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format('CREATE POLICY tenant_isolation ON recsys.%I
                            USING (org_id = (SELECT recsys.current_org()))
                            WITH CHECK (org_id = (SELECT recsys.current_org()))', table_name);
    END LOOP;
END
$$;
