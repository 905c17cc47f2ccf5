-- Serving (foundation version): popularity-only ranking over the decayed popularity. The full
-- pipeline of DESIGN.md section 5 replaces the body of recsys_rank without changing its signature.

-- Decayed popularity of every item of a namespace at time `at`: sum over event types of
-- 2^(log2_score - days(at) / half_life).
CREATE FUNCTION recsys._popularity_at(org uuid, namespace text, at timestamptz)
    RETURNS TABLE (item_id text, score float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.item_id, sum(power(2::float8, greatest(p.log2_score - recsys._decay_days(at) / t.half_life_days, -1000)))
      FROM recsys.item_popularity p
      JOIN recsys.event_types t ON t.org_id = p.org_id AND t.namespace = p.namespace AND t.type_id = p.type
     WHERE p.org_id = $1 AND p.namespace = $2
     GROUP BY p.item_id;
$$;

-- Top k available items for a user by decayed popularity, scores normalised to [0, 1] and ties
-- broken by item_id. Options: exclude_seen (false). Other options arrive with the ranking pipeline.
CREATE FUNCTION recsys.recsys_rank(namespace text, user_id text, k int DEFAULT 20,
                                   surface text DEFAULT 'default', options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    uid text := $2;
    opts jsonb := $5;
    exclude_seen boolean;
BEGIN
    IF uid IS NULL OR uid = '' OR length(uid) > 256 THEN
        RAISE EXCEPTION 'user_id must be a non-empty string of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', coalesce(k::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_filter(opts, ARRAY['exclude_seen'], 'options');
    exclude_seen := coalesce((opts -> 'exclude_seen')::boolean, false);
    IF NOT EXISTS (SELECT 1 FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" does not exist', ns USING ERRCODE = '42704';
    END IF;
    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY s.score DESC, s.item_id))::int, s.item_id,
           s.score / nullif(max(s.score) OVER (), 0), ARRAY['recent_popularity']
      FROM recsys._popularity_at(org, ns, now()) s
      JOIN recsys.items i ON i.org_id = org AND i.namespace = ns AND i.item_id = s.item_id AND i.available
     WHERE NOT (exclude_seen AND EXISTS (SELECT 1 FROM recsys.user_items u
                                          WHERE u.org_id = org AND u.namespace = ns AND u.user_id = uid
                                            AND u.item_id = s.item_id))
     ORDER BY s.score DESC, s.item_id
     LIMIT k;
END
$$;
