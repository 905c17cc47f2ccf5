-- Manual overrides: a merchandiser boosts, suppresses or pins one item, optionally on one
-- surface, until an optional expiry. They act through the rule machinery (suppress blocks) and
-- stop applying at expires_at by themselves. Every creation and cancellation is kept in
-- override_history.

CREATE TABLE recsys.manual_overrides (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    override_id uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id text COLLATE "C" NOT NULL CHECK (length(item_id) BETWEEN 1 AND 256),
    action text NOT NULL CHECK (action IN ('boost', 'suppress', 'pin')),
    value float8 CHECK (value > -1 AND value <= 100),
    surface text COLLATE "C",
    expires_at timestamptz,
    notes text CHECK (length(notes) <= 2000),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_by text,
    cancelled_at timestamptz,
    PRIMARY KEY (org_id, namespace, override_id)
);

CREATE TABLE recsys.override_history (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    override_id uuid NOT NULL,
    event text NOT NULL CHECK (event IN ('created', 'cancelled')),
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    details jsonb NOT NULL
);

SELECT recsys._isolate_tenants(ARRAY['manual_overrides', 'override_history']);

-- The first problem of an override.
CREATE FUNCTION recsys._override_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'override must be a JSON object']
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'action', 'value', 'surface', 'expires_at', 'notes', 'created_by']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN coalesce(e ->> 'action', '') NOT IN ('boost', 'suppress', 'pin')
             THEN ARRAY['action', '22023', 'must be boost, suppress or pin'] END,
        CASE WHEN e ->> 'action' = 'boost' AND NOT e ? 'value' THEN ARRAY['value', '22023', 'is required for a boost'] END,
        CASE WHEN e ? 'value' AND (jsonb_typeof(e -> 'value') <> 'number' OR (e ->> 'value')::numeric <= -1
                  OR (e ->> 'value')::numeric > 100)
             THEN ARRAY['value', '22023', 'must be a number greater than -1 and at most 100'] END,
        recsys._name_problem(e, 'surface'),
        recsys._time_problem(e, 'expires_at', true),
        CASE WHEN recsys._json_time(e -> 'expires_at') <= now() THEN ARRAY['expires_at', '22023', 'lies in the past'] END,
        recsys._string_problem(e, 'notes', 2000),
        recsys._string_problem(e, 'created_by', 256))
END;

-- Creates an override; created_by defaults to the calling role. Returns its override_id.
CREATE FUNCTION recsys.recsys_create_override(namespace text, override jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := $2;
    actor text := coalesce($2 ->> 'created_by', recsys.caller_role()::regrole::text);
    id uuid;
BEGIN
    PERFORM recsys._raise_object_problem('override', recsys._override_problem(o));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.manual_overrides (org_id, namespace, item_id, action, value, surface, expires_at, notes, created_by)
    VALUES (org, ns, o ->> 'item_id', o ->> 'action', (o ->> 'value')::float8, o ->> 'surface',
            recsys._json_time(o -> 'expires_at'), o ->> 'notes', actor)
    RETURNING override_id INTO id;
    INSERT INTO recsys.override_history (org_id, namespace, override_id, event, actor, details)
    VALUES (org, ns, id, 'created', actor, o);
    RETURN id;
END
$$;

-- Cancels an override (it stops applying at once). Cancelling twice, or a missing override, is
-- an error. Returns the override as it now stands.
CREATE FUNCTION recsys.recsys_cancel_override(namespace text, override_id uuid, cancelled_by text DEFAULT current_user)
    RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    actor text := coalesce($3, recsys.caller_role()::regrole::text);
    row recsys.manual_overrides;
BEGIN
    SELECT * INTO row FROM recsys.manual_overrides m
     WHERE m.org_id = org AND m.namespace = ns AND m.override_id = $2 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'override % does not exist in namespace "%"', $2, ns USING ERRCODE = '42704';
    END IF;
    IF row.cancelled_at IS NOT NULL THEN
        RAISE EXCEPTION 'override % was already cancelled by % at %', $2, row.cancelled_by, row.cancelled_at
            USING ERRCODE = '55000';
    END IF;
    UPDATE recsys.manual_overrides m SET cancelled_by = actor, cancelled_at = now()
     WHERE m.org_id = org AND m.namespace = ns AND m.override_id = $2
    RETURNING * INTO row;
    INSERT INTO recsys.override_history (org_id, namespace, override_id, event, actor, details)
    VALUES (org, ns, $2, 'cancelled', actor, '{}');
    RETURN to_jsonb(row) - 'org_id';
END
$$;

-- The overrides of every namespace, with whether each applies now.
CREATE VIEW recsys.overrides_list WITH (security_invoker = true) AS
SELECT org_id, namespace, override_id, item_id, action, value, surface, expires_at, notes, created_by, created_at,
       cancelled_by, cancelled_at,
       cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS active_now
  FROM recsys.manual_overrides;
