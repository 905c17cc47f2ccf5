-- recsys_seed_synthetic: a deterministic synthetic namespace (see src/core/synthetic.hpp).

CREATE FUNCTION recsys._synthetic_validate(seed bigint, items bigint, users bigint, events bigint, dim int,
        categories int, brands_per_category int, window_days float8, available_share float8, end_ts timestamptz)
    RETURNS void AS 'MODULE_PATHNAME', 'recsys_synthetic_validate' LANGUAGE C STRICT;

CREATE FUNCTION recsys._synthetic_items(seed bigint, items bigint, users bigint, events bigint, dim int,
        categories int, brands_per_category int, window_days float8, available_share float8, end_ts timestamptz)
    RETURNS TABLE (item_id text, available boolean, price float8, brand text, category text, tags text[],
                   props jsonb, embedding real[], created_at timestamptz)
    AS 'MODULE_PATHNAME', 'recsys_synthetic_items' LANGUAGE C STRICT;

CREATE FUNCTION recsys._synthetic_users(seed bigint, items bigint, users bigint, events bigint, dim int,
        categories int, brands_per_category int, window_days float8, available_share float8, end_ts timestamptz)
    RETURNS TABLE (user_id text, traits jsonb)
    AS 'MODULE_PATHNAME', 'recsys_synthetic_users' LANGUAGE C STRICT;

CREATE FUNCTION recsys._synthetic_events(seed bigint, items bigint, users bigint, events bigint, dim int,
        categories int, brands_per_category int, window_days float8, available_share float8, end_ts timestamptz)
    RETURNS TABLE (event_id text, user_id text, item_id text, type smallint, ts timestamptz)
    AS 'MODULE_PATHNAME', 'recsys_synthetic_events' LANGUAGE C STRICT;

-- Seeds an empty namespace with a synthetic catalogue, users and events. Options (all optional):
-- items (1000), users (200), events (20000), seed (42), dim (384), categories (20),
-- brands_per_category (8), window_days (90), available_share (0.95), end (now, to the hour).
-- The same options always give the same data. Returns the counts and the seconds taken.
CREATE FUNCTION recsys.recsys_seed_synthetic(namespace text, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := $2;
    started timestamptz := clock_timestamp();
    known constant text[] := ARRAY['items', 'users', 'events', 'seed', 'dim', 'categories', 'brands_per_category',
                                   'window_days', 'available_share', 'end'];
    bad text;
    seed bigint;
    n_items bigint;
    n_users bigint;
    n_events bigint;
    dim int;
    categories int;
    brands int;
    window_days float8;
    available_share float8;
    end_ts timestamptz;
BEGIN
    IF o IS NULL OR jsonb_typeof(o) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object, not %', coalesce(jsonb_typeof(o), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(o) k WHERE k <> ALL (known) ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'option "%" is not known', bad
            USING ERRCODE = '22023', HINT = format('Known options: %s.', array_to_string(known, ', '));
    END IF;
    SELECT k INTO bad FROM jsonb_each(o) x(k, v)
     WHERE (k <> 'end' AND (jsonb_typeof(v) <> 'number' OR abs(v::numeric) > 1e15))
        OR (k IN ('items', 'users', 'events', 'seed', 'dim', 'categories', 'brands_per_category') AND v::numeric % 1 <> 0)
        OR (k = 'end' AND recsys._json_time(v) IS NULL)
     ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'option "%" has an invalid value: %', bad, o -> bad
            USING ERRCODE = '22023', DETAIL = 'Sizes and seed are whole numbers, shares and windows numbers, end a timestamp.';
    END IF;
    seed := coalesce((o ->> 'seed')::bigint, 42);
    n_items := coalesce((o ->> 'items')::bigint, 1000);
    n_users := coalesce((o ->> 'users')::bigint, 200);
    n_events := coalesce((o ->> 'events')::bigint, 20000);
    dim := coalesce((o ->> 'dim')::int, 384);
    categories := coalesce((o ->> 'categories')::int, 20);
    brands := coalesce((o ->> 'brands_per_category')::int, 8);
    window_days := coalesce((o ->> 'window_days')::float8, 90);
    available_share := coalesce((o ->> 'available_share')::float8, 0.95);
    end_ts := coalesce(recsys._json_time(o -> 'end'), date_trunc('hour', now()));
    -- The core checks the ranges (and raises 22023 naming the option).
    PERFORM recsys._synthetic_validate(seed, n_items, n_users, n_events, dim, categories, brands, window_days,
                                       available_share, end_ts);
    IF EXISTS (SELECT 1 FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns)
       OR EXISTS (SELECT 1 FROM recsys.users u WHERE u.org_id = org AND u.namespace = ns)
       OR EXISTS (SELECT 1 FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" is not empty', ns
            USING ERRCODE = '55000', HINT = 'Seed a new namespace, or empty this one with recsys_reset_namespace.';
    END IF;

    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.items (org_id, namespace, item_id, available, price, brand, category, tags, props, embedding, created_at)
    SELECT org, ns, g.* FROM recsys._synthetic_items(seed, n_items, n_users, n_events, dim, categories, brands,
                                                     window_days, available_share, end_ts) g;
    INSERT INTO recsys.users (org_id, namespace, user_id, traits)
    SELECT org, ns, g.* FROM recsys._synthetic_users(seed, n_items, n_users, n_events, dim, categories, brands,
                                                     window_days, available_share, end_ts) g;
    PERFORM recsys._ensure_event_partitions(end_ts - make_interval(secs => window_days * 86400), end_ts);
    INSERT INTO recsys.events (org_id, namespace, event_id, user_id, item_id, type, ts)
    SELECT org, ns, g.* FROM recsys._synthetic_events(seed, n_items, n_users, n_events, dim, categories, brands,
                                                      window_days, available_share, end_ts) g;
    RETURN jsonb_build_object('items', n_items, 'users', n_users, 'events', n_events,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3));
END
$$;
