-- Ingestion: JSON batches, one call one atomic batch. Every function validates the whole batch
-- before writing, works on the caller's organisation only, and returns counts as jsonb.

-- A JSON array of strings as a sorted, duplicate-free text[] (tags are a set).
CREATE FUNCTION recsys._json_tags(v jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM jsonb_array_elements_text(v) t), '{}');

-- A JSON array of numbers as real[].
CREATE FUNCTION recsys._json_embedding(v jsonb) RETURNS real[]
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN jsonb_typeof(v) = 'array' THEN translate(v::text, '[]', '{}')::real[] END;

-- Upserts items. Fields left out of an element keep their stored value (new items get the
-- defaults); an explicit null clears price, brand, category and embedding.
-- Returns {"inserted": n, "updated": n}.
CREATE FUNCTION recsys.recsys_upsert_items(namespace text, items jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    dim int;
    inserted bigint;
    total bigint;
BEGIN
    PERFORM recsys._check_batch(payload, 'items');
    SELECT coalesce((SELECT n.embedding_dim FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = ns),
                    (SELECT jsonb_array_length(e -> 'embedding') FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
                      WHERE jsonb_typeof(e) = 'object' AND jsonb_typeof(e -> 'embedding') = 'array'
                      ORDER BY i LIMIT 1))
      INTO dim;
    PERFORM recsys._check_payload(payload, 'items', 'item', format('recsys._item_problem(e, %s)', coalesce(dim::text, 'NULL')), 'item_id');

    WITH upserted AS (
        INSERT INTO recsys.items AS t (org_id, namespace, item_id, available, price, brand, category, tags, props,
                                       embedding, created_at, updated_at)
        SELECT org, ns, e ->> 'item_id',
               CASE WHEN jsonb_typeof(e -> 'available') = 'boolean' THEN (e -> 'available')::boolean
                    ELSE coalesce(cur.available, true) END,
               CASE WHEN e ? 'price' THEN (e ->> 'price')::float8 ELSE cur.price END,
               CASE WHEN e ? 'brand' THEN e ->> 'brand' ELSE cur.brand END,
               CASE WHEN e ? 'category' THEN e ->> 'category' ELSE cur.category END,
               CASE WHEN jsonb_typeof(e -> 'tags') = 'array' THEN recsys._json_tags(e -> 'tags')
                    WHEN e ? 'tags' THEN '{}' ELSE coalesce(cur.tags, '{}') END,
               CASE WHEN jsonb_typeof(e -> 'props') = 'object' THEN e -> 'props'
                    WHEN e ? 'props' THEN '{}' ELSE coalesce(cur.props, '{}') END,
               CASE WHEN e ? 'embedding' THEN recsys._json_embedding(e -> 'embedding') ELSE cur.embedding END,
               coalesce(recsys._json_time(e -> 'created_at'), cur.created_at, now()),
               now()
          FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
          LEFT JOIN recsys.items cur ON cur.org_id = org AND cur.namespace = ns AND cur.item_id = e ->> 'item_id'
         ORDER BY i
        ON CONFLICT (org_id, namespace, item_id) DO UPDATE SET
            available = excluded.available, price = excluded.price, brand = excluded.brand,
            category = excluded.category, tags = excluded.tags, props = excluded.props,
            embedding = excluded.embedding, created_at = excluded.created_at, updated_at = excluded.updated_at
        RETURNING (xmax = 0) AS fresh)
    SELECT count(*) FILTER (WHERE fresh), count(*) INTO inserted, total FROM upserted;
    RETURN jsonb_build_object('inserted', inserted, 'updated', total - inserted);
END
$$;

-- Upserts users; traits replace the stored traits when given. Returns {"inserted": n, "updated": n}.
CREATE FUNCTION recsys.recsys_upsert_users(namespace text, users jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    inserted bigint;
    total bigint;
BEGIN
    PERFORM recsys._check_payload(payload, 'users', 'user', 'recsys._user_problem(e)', 'user_id');

    WITH upserted AS (
        INSERT INTO recsys.users AS t (org_id, namespace, user_id, traits)
        SELECT org, ns, e ->> 'user_id', CASE WHEN jsonb_typeof(e -> 'traits') = 'object' THEN e -> 'traits' ELSE '{}' END
          FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
         ORDER BY i
        ON CONFLICT (org_id, namespace, user_id) DO UPDATE SET
            traits = CASE WHEN jsonb_typeof(excluded.traits) = 'object' AND excluded.traits <> '{}' THEN excluded.traits
                          ELSE t.traits END,
            updated_at = now()
        RETURNING (xmax = 0) AS fresh)
    SELECT count(*) FILTER (WHERE fresh), count(*) INTO inserted, total FROM upserted;
    RETURN jsonb_build_object('inserted', inserted, 'updated', total - inserted);
END
$$;

-- Records events. A repeated event_id (in the batch or already stored) is counted as a
-- duplicate and not stored again. Returns {"received": n, "stored": n, "duplicates": n}.
CREATE FUNCTION recsys.recsys_record_events(namespace text, events jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    received int;
    bad record;
    first_ts timestamptz;
    last_ts timestamptz;
    seqs bigint[];
    stored bigint;
BEGIN
    received := recsys._check_payload(payload, 'events', 'event', 'recsys._event_problem(e)', NULL);
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    SELECT i - 1 AS idx, e -> 'type' AS type INTO bad
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
      LEFT JOIN recsys.event_types t ON t.org_id = org AND t.namespace = ns
            AND (t.name = e ->> 'type' AND jsonb_typeof(e -> 'type') = 'string'
                 OR jsonb_typeof(e -> 'type') = 'number' AND t.type_id = (e ->> 'type')::numeric)
     WHERE t.type_id IS NULL ORDER BY i LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid event at index %: field "type" names an unknown event type: %', bad.idx, bad.type
            USING ERRCODE = '22023',
                  HINT = format('The event types of namespace "%s" are: %s.', ns,
                                (SELECT string_agg(format('%s %s', type_id, name), ', ' ORDER BY type_id)
                                   FROM recsys.event_types WHERE org_id = org AND namespace = ns));
    END IF;

    SELECT min(coalesce(recsys._json_time(e -> 'ts'), now())), max(coalesce(recsys._json_time(e -> 'ts'), now()))
      INTO first_ts, last_ts FROM jsonb_array_elements(payload) e;
    PERFORM recsys._ensure_event_partitions(first_ts, last_ts);

    WITH stored_rows AS (
        INSERT INTO recsys.events (org_id, namespace, event_id, user_id, item_id, type, value, ts, meta)
        SELECT org, ns, e ->> 'event_id', e ->> 'user_id', e ->> 'item_id', t.type_id, (e ->> 'value')::float8,
               coalesce(recsys._json_time(e -> 'ts'), now()),
               CASE WHEN jsonb_typeof(e -> 'meta') = 'object' THEN e -> 'meta' ELSE '{}' END
          FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
          JOIN recsys.event_types t ON t.org_id = org AND t.namespace = ns
           AND (t.name = e ->> 'type' AND jsonb_typeof(e -> 'type') = 'string'
                OR jsonb_typeof(e -> 'type') = 'number' AND t.type_id = (e ->> 'type')::numeric)
         ORDER BY i
        RETURNING seq)
    SELECT array_agg(seq) INTO seqs FROM stored_rows;
    -- The insert trigger removed the duplicates again: events without event_id are all stored,
    -- and an event_id counts as stored when this call's insert claimed it.
    SELECT count(*) INTO stored FROM jsonb_array_elements(payload) e WHERE e ->> 'event_id' IS NULL;
    stored := stored + (SELECT count(*)
                          FROM (SELECT DISTINCT e ->> 'event_id' AS event_id FROM jsonb_array_elements(payload) e) d
                          JOIN recsys.event_ids x ON x.org_id = org AND x.namespace = ns AND x.event_id = d.event_id
                          JOIN unnest(seqs) s(seq) ON s.seq = x.seq);
    RETURN jsonb_build_object('received', received, 'stored', stored, 'duplicates', received - stored);
END
$$;

-- Raises unless `filter` (what: 'filter' or 'options') is an object whose keys are all `known`
-- and whose values have the types their keys need.
CREATE FUNCTION recsys._check_filter(filter jsonb, known text[], what text DEFAULT 'filter') RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    bad text;
    key_noun text := CASE what WHEN 'filter' THEN 'filter key' ELSE 'option' END;
BEGIN
    IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, not %', what, coalesce(jsonb_typeof(filter), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(filter) k WHERE k <> ALL (known) ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '% "%" is not known', key_noun, bad
            USING ERRCODE = '22023', HINT = format('Known keys: %s.', array_to_string(known, ', '));
    END IF;
    SELECT k INTO bad FROM jsonb_each(filter) f(k, v)
     WHERE k IN ('item_ids', 'user_ids', 'event_ids', 'types', 'include_tags_any', 'exclude_item_ids')
       AND (jsonb_typeof(v) <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string'))
     ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '% "%" must be an array of strings', key_noun, bad USING ERRCODE = '22023';
    END IF;
    SELECT k INTO bad FROM jsonb_each(filter) f(k, v)
     WHERE (k IN ('before', 'after') AND recsys._json_time(v) IS NULL)
        OR (k IN ('brand', 'category') AND jsonb_typeof(v) <> 'string')
        OR (k IN ('available', 'exclude_seen') AND jsonb_typeof(v) <> 'boolean')
     ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION '% "%" has a value of the wrong type: %', key_noun, bad, filter -> bad USING ERRCODE = '22023';
    END IF;
END
$$;

-- The strings of a JSON array filter value, or NULL when the key is absent (no restriction).
CREATE FUNCTION recsys._filter_list(filter jsonb, key text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN filter ? key THEN ARRAY(SELECT jsonb_array_elements_text(filter -> key)) END;

-- Deletes items matching filter {item_ids?, brand?, category?, available?} ({} deletes all).
-- Returns {"deleted": n}.
CREATE FUNCTION recsys.recsys_delete_items(namespace text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    f jsonb := $2;
    deleted bigint;
BEGIN
    PERFORM recsys._check_filter(f, ARRAY['item_ids', 'brand', 'category', 'available']);
    DELETE FROM recsys.items i
     WHERE i.org_id = org AND i.namespace = ns
       AND (NOT f ? 'item_ids' OR i.item_id = ANY (recsys._filter_list(f, 'item_ids')))
       AND (NOT f ? 'brand' OR i.brand = f ->> 'brand')
       AND (NOT f ? 'category' OR i.category = f ->> 'category')
       AND (NOT f ? 'available' OR i.available = (f -> 'available')::boolean);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN jsonb_build_object('deleted', deleted);
END
$$;

-- Deletes users matching filter {user_ids?} ({} deletes all) together with their events.
-- Returns {"deleted": n, "events_deleted": n}.
CREATE FUNCTION recsys.recsys_delete_users(namespace text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    f jsonb := $2;
    ids text[];
    deleted bigint;
    events_deleted bigint;
BEGIN
    PERFORM recsys._check_filter(f, ARRAY['user_ids']);
    ids := recsys._filter_list(f, 'user_ids');
    DELETE FROM recsys.events e
     WHERE e.org_id = org AND e.namespace = ns AND (ids IS NULL OR e.user_id = ANY (ids));
    GET DIAGNOSTICS events_deleted = ROW_COUNT;
    DELETE FROM recsys.users u
     WHERE u.org_id = org AND u.namespace = ns AND (ids IS NULL OR u.user_id = ANY (ids));
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN jsonb_build_object('deleted', deleted, 'events_deleted', events_deleted);
END
$$;

-- Deletes events matching filter {user_ids?, item_ids?, event_ids?, types?, before?, after?}
-- ({} deletes all); derived state follows. Returns {"deleted": n}.
CREATE FUNCTION recsys.recsys_delete_events(namespace text, filter jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    f jsonb := $2;
    deleted bigint;
BEGIN
    PERFORM recsys._check_filter(f, ARRAY['user_ids', 'item_ids', 'event_ids', 'types', 'before', 'after']);
    DELETE FROM recsys.events e
     WHERE e.org_id = org AND e.namespace = ns
       AND (NOT f ? 'user_ids' OR e.user_id = ANY (recsys._filter_list(f, 'user_ids')))
       AND (NOT f ? 'item_ids' OR e.item_id = ANY (recsys._filter_list(f, 'item_ids')))
       AND (NOT f ? 'event_ids' OR e.event_id = ANY (recsys._filter_list(f, 'event_ids')))
       AND (NOT f ? 'types' OR e.type IN (SELECT t.type_id FROM recsys.event_types t
                                           WHERE t.org_id = org AND t.namespace = ns
                                             AND t.name = ANY (recsys._filter_list(f, 'types'))))
       AND (NOT f ? 'before' OR e.ts < recsys._json_time(f -> 'before'))
       AND (NOT f ? 'after' OR e.ts >= recsys._json_time(f -> 'after'));
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN jsonb_build_object('deleted', deleted);
END
$$;
