-- Namespace maintenance: rebuild derived state, reset a namespace, configure event types.

-- Rebuilds every derived table of a namespace from its events (and files stray rows of the
-- default events partition into monthly partitions). Returns the rebuilt row counts.
CREATE FUNCTION recsys.recsys_refresh(namespace text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET work_mem = '256MB'
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    stray record;
BEGIN
    PERFORM recsys._require_namespace(org, ns);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    SELECT min(ts) AS first_ts, max(ts) AS last_ts INTO stray FROM recsys.events_default;
    PERFORM recsys._ensure_event_partitions(stray.first_ts, stray.last_ts);

    DELETE FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns;
    DELETE FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns;
    DELETE FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.covis_changes c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.item_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.embedding_indexes x WHERE x.org_id = org AND x.namespace = ns;
    DELETE FROM recsys.factor_models f WHERE f.org_id = org AND f.namespace = ns;
    PERFORM recsys._rebuild_derived(org, ns);
    RETURN jsonb_build_object(
        'events', (SELECT count(*) FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns),
        'item_popularity', (SELECT count(*) FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns),
        'user_items', (SELECT count(*) FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns),
        'user_tags', (SELECT count(*) FROM recsys.user_tags u WHERE u.org_id = org AND u.namespace = ns),
        'covis', (SELECT count(*) FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns));
END
$$;

-- Deletes everything a namespace holds. A namespace with events is reset only with force.
-- Returns the deleted row counts.
CREATE FUNCTION recsys.recsys_reset_namespace(namespace text, force boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    counts jsonb := '{}';
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    IF NOT coalesce(force, false) AND EXISTS (SELECT 1 FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" has events', ns
            USING ERRCODE = '55000', HINT = 'Call recsys_reset_namespace(namespace, force => true) to delete them too.';
    END IF;
    -- Derived state goes with the namespace: skip the per-row derived-state triggers.
    SET LOCAL session_replication_role = replica;
    DELETE FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('events', n);
    DELETE FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('items', n);
    DELETE FROM recsys.users u WHERE u.org_id = org AND u.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('users', n);
    DELETE FROM recsys.event_ids x WHERE x.org_id = org AND x.namespace = ns;
    DELETE FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns;
    DELETE FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns;
    DELETE FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.covis_changes c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.item_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.factor_models f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = ns;
    DELETE FROM recsys.namespaces x WHERE x.org_id = org AND x.namespace = ns;
    SET LOCAL session_replication_role = origin;
    RETURN counts;
END
$$;

-- Defines or changes event types of a namespace: [{name, type_id?, weight, half_life_days}].
-- A new name without type_id gets the next free number from 5. Derived state is rebuilt,
-- since weights and half-lives shape it. Returns the namespace's event types.
CREATE FUNCTION recsys.recsys_upsert_event_types(namespace text, types jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    e jsonb;
    existing smallint;
    tid smallint;
BEGIN
    PERFORM recsys._check_payload(payload, 'event types', 'event type', 'recsys._event_type_problem(e)', 'name');
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));

    FOR e IN SELECT value FROM jsonb_array_elements(payload) LOOP
        SELECT x.type_id INTO existing FROM recsys.event_types x
         WHERE x.org_id = org AND x.namespace = ns AND x.name = e ->> 'name';
        tid := coalesce((e ->> 'type_id')::smallint, existing,
                        (SELECT greatest(4, max(x.type_id)) + 1 FROM recsys.event_types x
                          WHERE x.org_id = org AND x.namespace = ns));
        IF existing IS NOT NULL AND existing <> tid THEN
            RAISE EXCEPTION 'event type "%" already has number %', e ->> 'name', existing
                USING ERRCODE = '22023', HINT = 'Leave out type_id to change its weight or half-life.';
        END IF;
        INSERT INTO recsys.event_types AS t (org_id, namespace, type_id, name, weight, half_life_days)
        VALUES (org, ns, tid, e ->> 'name', (e ->> 'weight')::float8, (e ->> 'half_life_days')::float8)
        ON CONFLICT (org_id, namespace, type_id) DO UPDATE
           SET name = excluded.name, weight = excluded.weight, half_life_days = excluded.half_life_days;
    END LOOP;
    PERFORM recsys.recsys_refresh(ns);
    RETURN (SELECT jsonb_agg(jsonb_build_object('type_id', t.type_id, 'name', t.name, 'weight', t.weight,
                                                'half_life_days', t.half_life_days) ORDER BY t.type_id)
              FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = ns);
END
$$;
