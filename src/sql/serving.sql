-- Serving: recsys_rank, recsys_rerank, recsys_recommend and recsys_similar_items. The SQL here
-- reads the request (options, segment, the user's history and factors; with as_of, signals from
-- the events); rules, candidates, filters, blend, personalisation, MMR and reasons run in one C
-- call, recsys._rank_serve (src/pg/serve.cpp over the C++ core).

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

-- Decayed popularity at `at` of the given items.
CREATE FUNCTION recsys._popularity_of(org uuid, namespace text, item_ids text[], at timestamptz)
    RETURNS TABLE (item_id text, score float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.item_id, sum(power(2::float8, greatest(p.log2_score - recsys._decay_days(at) / t.half_life_days, -1000)))
      FROM unnest(item_ids) AS wanted(item_id)
      JOIN recsys.item_popularity p ON p.org_id = $1 AND p.namespace = $2 AND p.item_id = wanted.item_id
      JOIN recsys.event_types t ON t.org_id = p.org_id AND t.namespace = p.namespace AND t.type_id = p.type
     GROUP BY p.item_id;
$$;

-- The as_of path: signals recomputed from the events up to `at` (later events are ignored).
-- Slower than the derived tables, which always include every event.

-- Decayed popularity at `at` of every item with events up to `at` (or of the given items).
CREATE FUNCTION recsys._popularity_from_events(org uuid, ns text, at timestamptz, item_ids text[])
    RETURNS TABLE (item_id text, score float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.item_id, sum(t.weight * power(2::float8, greatest(-extract(epoch FROM at - e.ts) / 86400 / t.half_life_days, -1000)))
      FROM recsys.events e
      JOIN recsys.event_types t ON t.org_id = e.org_id AND t.namespace = e.namespace AND t.type_id = e.type
     WHERE e.org_id = org AND e.namespace = ns AND e.ts <= at AND (item_ids IS NULL OR e.item_id = ANY (item_ids))
     GROUP BY e.item_id;
$$;

-- A user's interactions up to `at` (events, summed weight, last time), counted from the events:
-- the as_of path (serving now reads recsys.user_items). PL/pgSQL, so that the query, which spans
-- every monthly partition, is planned only when it runs and its plan is kept.
CREATE FUNCTION recsys._user_history_at(org uuid, ns text, uid text, at timestamptz)
    RETURNS TABLE (item_id text, events bigint, weight float8, last_ts timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT e.item_id, count(*), sum(t.weight), max(e.ts)
                   FROM recsys.events e
                   JOIN recsys.event_types t ON t.org_id = e.org_id AND t.namespace = e.namespace AND t.type_id = e.type
                  WHERE e.org_id = org AND e.namespace = ns AND e.user_id = uid AND e.ts <= at
                  GROUP BY e.item_id;
END
$$;

-- Co-visitation pairs of each of `items` with each neighbour, counted from the events up to `at`:
-- event pairs of one user on an item of `items` and another item within the namespace's window.
CREATE FUNCTION recsys._covis_pairs_from_events(org uuid, ns text, items text[], at timestamptz)
    RETURNS TABLE (item_id text, neighbour_id text, pairs bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.item_id, b.item_id, count(*)
      FROM recsys.namespaces n
      JOIN recsys.events a ON a.org_id = n.org_id AND a.namespace = n.namespace
      JOIN recsys.events b ON b.org_id = a.org_id AND b.namespace = a.namespace AND b.user_id = a.user_id
                          AND b.item_id <> a.item_id AND b.ts <= at
                          AND b.ts BETWEEN a.ts - n.covis_window AND a.ts + n.covis_window
     WHERE n.org_id = org AND n.namespace = ns AND a.item_id = ANY (items) AND a.ts <= at
     GROUP BY a.item_id, b.item_id;
$$;

-- One ranking request in one call (src/pg/serve.cpp): the active rules of surface and segment,
-- candidates from every source of the cached catalogue, filters, blend, personalisation, MMR, and
-- the rules naming each served item. Rows in rank order; the first row (rank NULL when nothing is
-- served) also carries the funnel, the dropped candidates, the rules naming candidates, the
-- candidate ids and the user's tag profile.
CREATE FUNCTION recsys._rank_serve(org uuid, ns text, surface text, segment text, at timestamptz, k int, fanout int,
        popular_fanout int, pin_slots int, recent text[], anchors text[], content_tags text[], user_factors real[],
        pool_ids text[], seen_ids text[], seen_weights float8[], purchased text[], excluded text[],
        given_popularity_ids text[], given_popularity float8[], given_covis_ids text[], given_covis float8[],
        covis_penalty float8, alpha float8, beta float8, gamma float8, profile_boost float8, mmr_lambda float8,
        brand_cap int, category_cap int, exclude_seen boolean, include_tags text[], price_min float8, price_max float8,
        created_after float8, boost_floor float8, novelty float8)
    RETURNS TABLE (rank int, item_id text, score float8, blend float8, boost float8, reasons text[], signals float8[],
                   max_similarity float8, rule_factor float8, brand text, category text, rules jsonb, funnel jsonb,
                   dropped jsonb, candidate_rules jsonb, candidates text[], profile_tags text[], profile_weights float8[])
    AS 'MODULE_PATHNAME', 'recsys_rank_serve' LANGUAGE C STABLE;

-- Validates the options of a ranking request; returns them with the effective knobs filled in
-- (knob defaults < namespace configuration < segment profile < bandit policy < request). The
-- policy's settings were validated when it was stored.
CREATE FUNCTION recsys._rank_options(org uuid, namespace text, options jsonb, segment_profile jsonb,
                                     policy jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    knob_names text[] := ARRAY(SELECT name FROM recsys.config_knobs);
    request_only constant text[] := ARRAY['include_tags_any', 'exclude_item_ids', 'price_between', 'created_after',
                                          'exclude_seen', 'explain', 'context', 'as_of'];
    knobs jsonb;
BEGIN
    -- Most requests bring no options: nothing to check then.
    IF options IS DISTINCT FROM '{}' THEN
        PERFORM recsys._check_filter(options, knob_names || request_only, 'options');
        PERFORM recsys._check_settings((SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(options) o(k, v)
                                         WHERE k = ANY (knob_names)), 'options');
    END IF;
    IF options ? 'as_of' AND recsys._json_time(options -> 'as_of') IS NULL THEN
        RAISE EXCEPTION 'option "as_of" must be a timestamp, not %', options -> 'as_of' USING ERRCODE = '22007';
    END IF;
    IF recsys._json_time(options -> 'as_of') > now() THEN
        RAISE EXCEPTION 'option "as_of" lies in the future (%)', options ->> 'as_of' USING ERRCODE = '22008';
    END IF;
    IF options ? 'include_tags_any' AND (jsonb_typeof(options -> 'include_tags_any') <> 'array'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(options -> 'include_tags_any') t WHERE jsonb_typeof(t) <> 'string')) THEN
        RAISE EXCEPTION 'option "include_tags_any" must be an array of strings' USING ERRCODE = '22023';
    END IF;
    IF options ? 'exclude_item_ids' AND (jsonb_typeof(options -> 'exclude_item_ids') <> 'array'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(options -> 'exclude_item_ids') t WHERE jsonb_typeof(t) <> 'string')) THEN
        RAISE EXCEPTION 'option "exclude_item_ids" must be an array of strings' USING ERRCODE = '22023';
    END IF;
    IF options ? 'price_between' AND (jsonb_typeof(options -> 'price_between') <> 'array'
         OR jsonb_array_length(options -> 'price_between') <> 2
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(options -> 'price_between') t WHERE jsonb_typeof(t) NOT IN ('number', 'null'))) THEN
        RAISE EXCEPTION 'option "price_between" must be [minimum, maximum] (numbers or null)' USING ERRCODE = '22023';
    END IF;
    IF options ? 'created_after' AND recsys._json_time(options -> 'created_after') IS NULL THEN
        RAISE EXCEPTION 'option "created_after" must be a timestamp, not %', options -> 'created_after' USING ERRCODE = '22007';
    END IF;
    IF options ? 'explain' AND coalesce(options ->> 'explain', '') NOT IN ('none', 'tags', 'numeric', 'full') THEN
        RAISE EXCEPTION 'option "explain" must be one of none, tags, numeric, full, not %', options -> 'explain' USING ERRCODE = '22023';
    END IF;
    IF options ? 'exclude_seen' AND jsonb_typeof(options -> 'exclude_seen') <> 'boolean' THEN
        RAISE EXCEPTION 'option "exclude_seen" must be a boolean' USING ERRCODE = '22023';
    END IF;
    IF options ? 'context' AND jsonb_typeof(options -> 'context') <> 'object' THEN
        RAISE EXCEPTION 'option "context" must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT jsonb_object_agg(k.name, coalesce(options -> k.name, policy -> k.name, segment_profile -> k.name, s.settings -> k.name,
                                           k.default_value))
      INTO knobs
      FROM recsys.config_knobs k, recsys._namespace_settings(org, namespace) s;
    RETURN options || knobs;
END
$$;

-- The ranking of recsys_rank, recsys_rerank and recsys_recommend for org's namespace: with
-- `pool` NULL, candidates come from decayed popularity, co-visitation of the user's recent items,
-- the user's tag profile, pins and positive boosts that name items; otherwise the pool is the
-- candidate list (plus pins). Then filters; blend of
-- normalised signals (alpha popularity, beta co-visitation, gamma embedding similarity to the
-- user's recent items); a gentle tag-profile boost attenuated for short histories; MMR with
-- brand/category caps. Rows in rank order; with explain "full", `explain` holds each item's
-- blend, personalization, mmr, caps and rules blocks. The first row also carries `trace`
-- ({funnel, segment, config: effective knobs, dropped: {item_id: filter stage}, rules: {rule_id:
-- {action, priority, candidates: how many it named}}}) and the candidate ids; without results
-- that row has rank NULL. `rules` lists the rules that named a served item
-- ([{rule_id, action, priority}], by priority; NULL when none did). Its statements (and those of
-- the PL/pgSQL functions it calls) use generic plans, planned once per session: the plan cache
-- otherwise kept re-planning the final query on every call; the catalogue cache's own queries
-- keep the default choice (src/pg/catalog_cache.cpp).
CREATE FUNCTION recsys._rank_core(org uuid, ns text, uid text, k int, surface text, options jsonb, pool_ids text[],
                                  policy jsonb DEFAULT NULL)
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[], explain jsonb, trace jsonb, candidates text[],
                   rules jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    o jsonb;
    fanout int;
    at timestamptz := now();
    recent text[];
    history int;
    purchased text[];
    excluded text[];
    explain text;
    segment record;
    user_factors real[];
    as_of boolean;
    seen_ids text[];
    seen_weights float8[];
    given_popularity_ids text[];
    given_popularity float8[];
    given_covis_ids text[];
    given_covis float8[];
BEGIN
    IF options ? 'context' AND jsonb_typeof(options -> 'context') <> 'object' THEN
        RAISE EXCEPTION 'option "context" must be a JSON object' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO segment FROM recsys._segment_of(org, ns, uid, options -> 'context',
                                                   jsonb_build_object('surface', surface, 'k', k));
    o := recsys._rank_options(org, ns, coalesce(options, 'null'), segment.profile, policy);
    fanout := (o ->> 'fanout')::int;
    explain := coalesce(o ->> 'explain', 'tags');
    -- as_of: rank as if it were that time; every signal ignores later events.
    as_of := o ? 'as_of';
    IF as_of THEN
        at := recsys._json_time(o -> 'as_of');
    END IF;

    -- The user, read once: every item they interacted with (newest first) and its weight, and the
    -- items purchased within exclude_purchased_days; from it the recent items, history length,
    -- embedding centroid, seen flags and (in _rank_serve) the tag profile. With as_of they
    -- come from the events up to `at`; otherwise from recsys.user_items (a purchase dated after
    -- now counts as within the window).
    IF NOT as_of THEN
        SELECT array_agg(ui.item_id ORDER BY ui.last_ts DESC, ui.item_id),
               array_agg(ui.weight ORDER BY ui.last_ts DESC, ui.item_id),
               array_agg(ui.item_id) FILTER (WHERE ui.last_purchase_ts >= at - make_interval(
                                                  secs => (o ->> 'exclude_purchased_days')::float8 * 86400))
          INTO seen_ids, seen_weights, purchased
          FROM recsys.user_items ui
         WHERE ui.org_id = org AND ui.namespace = ns AND ui.user_id = uid;
    ELSE
        SELECT array_agg(h.item_id ORDER BY h.last_ts DESC, h.item_id), array_agg(h.weight ORDER BY h.last_ts DESC, h.item_id)
          INTO seen_ids, seen_weights
          FROM recsys._user_history_at(org, ns, uid, at) h;
        SELECT array_agg(DISTINCT e.item_id) INTO purchased
          FROM recsys.events e JOIN recsys.event_types t ON t.org_id = e.org_id AND t.namespace = e.namespace AND t.type_id = e.type
         WHERE e.org_id = org AND e.namespace = ns AND e.user_id = uid AND t.name = 'purchase'
           AND e.ts >= at - make_interval(secs => (o ->> 'exclude_purchased_days')::float8 * 86400) AND e.ts <= at;
    END IF;
    recent := seen_ids[1:(o ->> 'recent_items')::int];
    history := coalesce(cardinality(seen_ids), 0);
    excluded := ARRAY(SELECT jsonb_array_elements_text(coalesce(o -> 'exclude_item_ids', '[]')));
    -- Collaborative factors (trained, or folded in from recent items); NULL without a model, and
    -- with as_of (a model trained later has seen later events).
    IF NOT as_of THEN
        user_factors := recsys._user_factors(org, ns, uid);
    END IF;
    -- Starter profile: a user without history gets the segment's knobs and, unless a category cap
    -- is set, cold_start_category_cap, so the first list spans several categories.
    IF history = 0 AND (o ->> 'category_cap')::int = 0 THEN
        o := o || jsonb_build_object('category_cap', o -> 'cold_start_category_cap');
    END IF;
    -- Candidates from every source (bit 1 popularity, 2 co-visitation, 4 embedding neighbours of
    -- the recent items, 8 content, 16 pinned items (at most pin_slots; they join even when no
    -- source found them), 32 items an active boost names, 64 collaborative), gathered from the
    -- cached catalogue by _rank_serve with the active rules' effects; with as_of, popularity
    -- and co-visitation come from the events up to `at` instead.
    IF as_of THEN
        SELECT coalesce(array_agg(p.item_id), '{}'), coalesce(array_agg(p.score), '{}')
          INTO given_popularity_ids, given_popularity
          FROM recsys._popularity_from_events(org, ns, at, NULL) p;
        -- Summed pairs with the recent items, divided by the neighbour's total pairs to the
        -- power covis_penalty (as the catalogue does; see CoVisitation::top_neighbours).
        WITH neighbours AS (
            SELECT y.neighbour_id AS item_id, sum(y.pairs)::float8 AS pairs
              FROM recsys._covis_pairs_from_events(org, ns, coalesce(recent, '{}'), at) y
             WHERE pool_ids IS NULL OR y.neighbour_id = ANY (pool_ids)
             GROUP BY 1),
        totals AS (
            SELECT t.item_id, sum(t.pairs)::float8 AS total
              FROM recsys._covis_pairs_from_events(org, ns, ARRAY(SELECT nb.item_id FROM neighbours nb), at) t
             WHERE (o ->> 'covis_penalty')::float8 > 0
             GROUP BY 1)
        SELECT coalesce(array_agg(c.item_id ORDER BY c.score DESC, c.item_id), '{}'),
               coalesce(array_agg(c.score ORDER BY c.score DESC, c.item_id), '{}')
          INTO given_covis_ids, given_covis
          FROM (SELECT nb.item_id, nb.pairs / coalesce(power(t.total, (o ->> 'covis_penalty')::float8), 1) AS score
                  FROM neighbours nb LEFT JOIN totals t USING (item_id)
                 ORDER BY 2 DESC, 1 LIMIT fanout) c;
    END IF;
    -- The ranked rows (rules, candidates, filters, blend, MMR: one C call), with the reasons at
    -- the requested explain level.
    RETURN QUERY
    SELECT r.rank, r.item_id, r.score,
           CASE explain
               WHEN 'none' THEN '{}'::text[]
               WHEN 'tags' THEN r.reasons || CASE WHEN history = 0 THEN ARRAY['starter_profile'] ELSE '{}' END
               ELSE r.reasons || CASE WHEN history = 0 THEN ARRAY['starter_profile'] ELSE '{}' END || ARRAY[format('score=%s', round(r.score::numeric, 4)),
                                       format('blend=%s', round(r.blend::numeric, 4)),
                                       format('boost=%s', round(r.boost::numeric, 4))] END,
           CASE WHEN explain = 'full' AND r.rank IS NOT NULL THEN jsonb_build_object(
               'blend', jsonb_build_object('value', r.blend, 'popularity', r.signals[1], 'co_visitation', r.signals[2],
                                           'embedding_similarity', r.signals[3],
                                           'weights', jsonb_build_object('alpha', o -> 'alpha', 'beta', o -> 'beta', 'gamma', o -> 'gamma')),
               'personalization', jsonb_build_object('boost', r.boost, 'profile_boost', o -> 'profile_boost'),
               'mmr', jsonb_build_object('lambda', o -> 'mmr_lambda', 'max_similarity', r.max_similarity),
               'caps', jsonb_build_object('brand_cap', o -> 'brand_cap', 'category_cap', o -> 'category_cap',
                                          'brand', r.brand, 'category', r.category),
               'rules', jsonb_build_object('factor', r.rule_factor, 'pinned', 'rule:pin' = ANY (r.reasons))) END,
           CASE WHEN r.funnel IS NOT NULL THEN jsonb_build_object(
               'funnel', r.funnel, 'segment', segment.segment_id, 'dropped', r.dropped, 'rules', r.candidate_rules,
               'config', (SELECT jsonb_object_agg(c.key, c.value) FROM jsonb_each(o) c
                           WHERE c.key IN (SELECT kn.name FROM recsys.config_knobs kn))) END,
           r.candidates,
           r.rules
      FROM recsys._rank_serve(org, ns, surface, segment.segment_id, at, k, fanout, fanout, (o ->> 'pin_slots')::int,
               recent, recent[1:10], NULL, user_factors, pool_ids, coalesce(seen_ids, '{}'), seen_weights, purchased,
               excluded, given_popularity_ids, given_popularity, given_covis_ids, given_covis,
               (o ->> 'covis_penalty')::float8, (o ->> 'alpha')::float8, (o ->> 'beta')::float8, (o ->> 'gamma')::float8,
               (o ->> 'profile_boost')::float8, (o ->> 'mmr_lambda')::float8, (o ->> 'brand_cap')::int,
               (o ->> 'category_cap')::int, coalesce((o -> 'exclude_seen')::boolean, false),
               ARRAY(SELECT jsonb_array_elements_text(coalesce(o -> 'include_tags_any', '[]'))),
               (o -> 'price_between' ->> 0)::float8, (o -> 'price_between' ->> 1)::float8,
               extract(epoch FROM recsys._json_time(o -> 'created_after'))::float8, (o ->> 'boost_floor')::float8,
               (o ->> 'novelty')::float8) r
     ORDER BY r.rank;
END
$$;

-- Checks the common arguments of the serving functions; raises 22023 or 42704.
CREATE FUNCTION recsys._check_request(org uuid, ns text, uid text, k int, surface text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF uid IS NULL OR uid = '' OR length(uid) > 256 THEN
        RAISE EXCEPTION 'user_id must be a non-empty string of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', coalesce(k::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_surface(surface);
    PERFORM recsys._require_namespace(org, ns);
END
$$;

-- Top k items for a user (see _rank_core); the decision is logged (see _serve).
CREATE FUNCTION recsys.recsys_rank(namespace text, user_id text, k int DEFAULT 20,
                                   surface text DEFAULT 'default', options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    PERFORM recsys._check_request(org, ns, $2, $3, $4);
    RETURN QUERY SELECT r.rank, r.item_id, r.score, r.reasons
                   FROM jsonb_to_recordset(recsys._serve(org, ns, 'rank', $2, $3, $4, $5, NULL, NULL, gen_random_uuid()) -> 'items')
                        AS r(rank int, item_id text, score float8, reasons text[])
                  ORDER BY r.rank;
END
$$;

-- Reranks the caller's list for a user: the list is the candidate pool (unknown and unavailable
-- items drop out, repeats count once); nothing outside it appears. k defaults to the list's length.
CREATE FUNCTION recsys.recsys_rerank(namespace text, user_id text, item_ids text[], k int DEFAULT NULL,
                                     surface text DEFAULT 'default', options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    IF $3 IS NULL OR cardinality($3) = 0 THEN
        RAISE EXCEPTION 'item_ids must be a non-empty array' USING ERRCODE = '22023';
    END IF;
    IF cardinality($3) > 10000 THEN
        RAISE EXCEPTION 'item_ids holds % items; at most 10000 can be reranked', cardinality($3) USING ERRCODE = '22023';
    END IF;
    IF array_position($3, NULL) IS NOT NULL OR EXISTS (SELECT 1 FROM unnest($3) x WHERE x = '' OR length(x) > 256) THEN
        RAISE EXCEPTION 'item_ids must hold non-empty ids of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_request(org, ns, $2, coalesce($4, least(cardinality($3), 1000)), $5);
    RETURN QUERY SELECT r.rank, r.item_id, r.score, r.reasons
                   FROM jsonb_to_recordset(recsys._serve(org, ns, 'rerank', $2, coalesce($4, least(cardinality($3), 1000)), $5, $6,
                                                         $3, NULL, gen_random_uuid()) -> 'items')
                        AS r(rank int, item_id text, score float8, reasons text[])
                  ORDER BY r.rank;
END
$$;

-- The full response for a request {user_id, k?, surface?, options?, item_ids?, trace?,
-- request_id?}: {request_id, decision_id, user_id, surface, items: [{rank, item_id, score,
-- reasons, explain?}], trace?: {segment, funnel, config: {knob: {value, source}}}}. With
-- item_ids it reranks that list. request_id (a UUID) is the caller's, or a new one.
CREATE FUNCTION recsys.recsys_recommend(namespace text, request jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    req jsonb := $2;
    uid text;
    k int;
    surf text;
    opts jsonb;
    pool text[];
    request_id uuid := gen_random_uuid();
    served jsonb;
BEGIN
    PERFORM recsys._check_filter(req, ARRAY['user_id', 'k', 'surface', 'options', 'item_ids', 'trace', 'request_id'],
                                 'request');
    IF jsonb_typeof(req -> 'user_id') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'request field "user_id" must be a string' USING ERRCODE = '22023';
    END IF;
    uid := req ->> 'user_id';
    k := recsys._option_int(req, 'k', 1, 1000, 20);
    IF req ? 'surface' AND jsonb_typeof(req -> 'surface') <> 'string' THEN
        RAISE EXCEPTION 'request field "surface" must be a string' USING ERRCODE = '22023';
    END IF;
    surf := coalesce(req ->> 'surface', 'default');
    opts := coalesce(req -> 'options', '{}');
    IF req ? 'trace' AND jsonb_typeof(req -> 'trace') <> 'boolean' THEN
        RAISE EXCEPTION 'request field "trace" must be a boolean' USING ERRCODE = '22023';
    END IF;
    IF req ? 'request_id' THEN
        request_id := recsys._try_uuid(req ->> 'request_id');
        IF jsonb_typeof(req -> 'request_id') <> 'string' OR request_id IS NULL THEN
            RAISE EXCEPTION 'request field "request_id" must be a UUID string, not %', req -> 'request_id'
                USING ERRCODE = '22P02';
        END IF;
    END IF;
    IF req ? 'item_ids' THEN
        pool := recsys._filter_list(req, 'item_ids');
        IF cardinality(pool) = 0 THEN
            RAISE EXCEPTION 'request field "item_ids" must not be empty' USING ERRCODE = '22023';
        END IF;
    END IF;
    PERFORM recsys._check_request(org, ns, uid, k, surf);
    served := recsys._serve(org, ns, CASE WHEN pool IS NULL THEN 'recommend' ELSE 'rerank' END, uid, k, surf, opts,
                            pool, NULL, request_id);
    RETURN jsonb_build_object('request_id', request_id, 'decision_id', served -> 'decision_id', 'user_id', uid,
                              'surface', surf, 'items', served -> 'items')
        || CASE WHEN coalesce((req -> 'trace')::boolean, false) THEN jsonb_build_object('trace', jsonb_build_object(
               'segment', served -> 'trace' -> 'segment',
               'funnel', served -> 'trace' -> 'funnel',
               'config', recsys._config_sources(org, ns, opts, (SELECT sg.profile FROM recsys.segments sg
                                                                  WHERE sg.org_id = org AND sg.namespace = ns
                                                                    AND sg.segment_id = served -> 'trace' ->> 'segment'), NULL)))
           ELSE '{}'::jsonb END;
END
$$;

-- Every knob's effective value and source for a request: default < namespace < segment profile <
-- bandit policy < request options.
CREATE FUNCTION recsys._config_sources(org uuid, ns text, request jsonb, segment_profile jsonb, policy jsonb) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_object_agg(k.name, jsonb_build_object(
               'value', coalesce(request -> k.name, policy -> k.name, segment_profile -> k.name, st.settings -> k.name, k.default_value),
               'source', CASE WHEN request ? k.name THEN 'request' WHEN policy ? k.name THEN 'bandit_policy'
                              WHEN segment_profile ? k.name THEN 'segment' WHEN st.settings ? k.name THEN 'namespace'
                              ELSE 'default' END))
      FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st;
$$;

-- Items similar to `item_id`: candidates are its embedding neighbours (nearest by cosine, through
-- the namespace's embedding index when there is one), its strongest co-visitation neighbours and
-- items sharing one of its tags (fanout of each); the blend weighs embedding cosine to the item (gamma, default 2),
-- co-visitation with it (beta, default 1) and popularity (alpha, default 0.1), so it falls back
-- to co-visitation when the item has no embedding. Only available items, never the item itself;
-- rules apply (surface "similar_items"). Options as recsys_rank.
CREATE FUNCTION recsys._similar_items(org uuid, namespace text, anchor_id text, k int, options jsonb)
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    ns text := recsys._check_namespace($2);
    anchor_tags text[];
    o jsonb;
    fanout int;
    at timestamptz := now();
    explain text;
BEGIN
    IF anchor_id IS NULL OR anchor_id = '' OR length(anchor_id) > 256 THEN
        RAISE EXCEPTION 'item_id must be a non-empty string of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', coalesce(k::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._require_namespace(org, ns);
    anchor_tags := recsys._catalog_item_tags(org, ns, anchor_id);
    IF anchor_tags IS NULL THEN
        RAISE EXCEPTION 'item "%" does not exist in namespace "%"', anchor_id, ns USING ERRCODE = '42704';
    END IF;
    o := recsys._rank_options(org, ns, jsonb_build_object('alpha', 0.1, 'beta', 1, 'gamma', 2, 'mmr_lambda', 1)
                                         || coalesce(options, '{}'), '{}');
    IF o ? 'as_of' THEN
        RAISE EXCEPTION 'option "as_of" is not supported by recsys_similar_items' USING ERRCODE = '0A000',
            HINT = 'Similar items come from the current co-visitation and embeddings.';
    END IF;
    fanout := (o ->> 'fanout')::int;
    explain := coalesce(o ->> 'explain', 'tags');
    -- Candidates: the anchor's embedding neighbours and co-visited items, and items sharing its
    -- tags (no popularity source); the anchor itself and excluded items are flagged out; the
    -- rules of the surface "similar_items" apply.
    RETURN QUERY
    SELECT r.rank, r.item_id, r.score, CASE explain WHEN 'none' THEN '{}'::text[] ELSE r.reasons END
      FROM recsys._rank_serve(org, ns, 'similar_items', NULL, at, k, fanout, 0, 0, ARRAY[anchor_id], ARRAY[anchor_id],
               anchor_tags, NULL, NULL, '{}', NULL, '{}',
               anchor_id || ARRAY(SELECT jsonb_array_elements_text(coalesce(o -> 'exclude_item_ids', '[]'))),
               NULL, NULL, NULL, NULL, (o ->> 'covis_penalty')::float8, (o ->> 'alpha')::float8, (o ->> 'beta')::float8,
               (o ->> 'gamma')::float8, 0, (o ->> 'mmr_lambda')::float8, (o ->> 'brand_cap')::int,
               (o ->> 'category_cap')::int, false, ARRAY(SELECT jsonb_array_elements_text(coalesce(o -> 'include_tags_any', '[]'))),
               (o -> 'price_between' ->> 0)::float8, (o -> 'price_between' ->> 1)::float8,
               extract(epoch FROM recsys._json_time(o -> 'created_after'))::float8, (o ->> 'boost_floor')::float8,
               (o ->> 'novelty')::float8) r
     WHERE r.rank IS NOT NULL
     ORDER BY r.rank;
END
$$;

CREATE FUNCTION recsys.recsys_similar_items(namespace text, item_id text, k int DEFAULT 20, options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM recsys._similar_items(recsys.current_org(), $1, $2, $3, $4);
$$;
