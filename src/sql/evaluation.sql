-- Offline evaluation without leakage, guardrails and tuning.
-- An evaluation splits each user's events by time (the last holdout share of users with at least
-- min_events go to test) and builds a scratch namespace "<namespace>.eval" from the catalogue,
-- users, configuration, segments, rules and the train events only (so every derived signal and a
-- model trained there see nothing of the test part). Every test user is ranked there (top k,
-- seen items excluded) and compared with the popularity baseline of the same split. Metrics at
-- k: NDCG (binary gains), recall, MRR, hit rate, catalogue coverage, long-tail share (slots
-- outside the 20% most popular train items) and intra-list similarity (tag/brand/category
-- Jaccard), overall and per segment, with lifts over the baseline.

CREATE TABLE recsys.evaluations (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    evaluation_id uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    options jsonb NOT NULL,
    results jsonb NOT NULL,
    seconds float8 NOT NULL,
    PRIMARY KEY (org_id, namespace, evaluation_id)
);
CREATE TABLE recsys.tuning_runs (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    tune_id uuid NOT NULL,
    run int NOT NULL,
    config jsonb NOT NULL,
    results jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, tune_id, run)
);
CREATE TABLE recsys.guardrail_settings (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    settings jsonb NOT NULL,
    PRIMARY KEY (org_id, namespace)
);
SELECT recsys._isolate_tenants(ARRAY['evaluations', 'tuning_runs', 'guardrail_settings']);

-- The evaluation options with defaults: holdout (0.2), min_events (5), k (10), config (ranking
-- knobs, default the namespace's), segments (true), factors (true: train a model on the train
-- part when the namespace has one; or an object of training options; false: none).
CREATE FUNCTION recsys._eval_options(options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM recsys._check_filter(options, ARRAY['holdout', 'min_events', 'k', 'config', 'segments', 'factors'], 'options');
    IF options ? 'config' AND jsonb_typeof(options -> 'config') <> 'object' THEN
        RAISE EXCEPTION 'option "config" must be a JSON object of knobs' USING ERRCODE = '22023';
    END IF;
    IF options ? 'segments' AND jsonb_typeof(options -> 'segments') <> 'boolean' THEN
        RAISE EXCEPTION 'option "segments" must be a boolean' USING ERRCODE = '22023';
    END IF;
    IF options ? 'factors' AND jsonb_typeof(options -> 'factors') NOT IN ('boolean', 'object') THEN
        RAISE EXCEPTION 'option "factors" must be a boolean or an object of training options' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object(
        'holdout', recsys._option_number(options, 'holdout', 0.01, 0.99, 0.2),
        'min_events', recsys._option_int(options, 'min_events', 2, 1000000, 5),
        'k', recsys._option_int(options, 'k', 1, 100, 10),
        'config', coalesce(options -> 'config', '{}'),
        'segments', coalesce(options -> 'segments', 'true'),
        'factors', coalesce(options -> 'factors', 'true'));
END
$$;

-- Splits org's namespace by time into the temp tables eval_train (events) and eval_truth (test
-- user-item pairs), builds the scratch namespace from the train part and returns its name.
CREATE FUNCTION recsys._eval_prepare(org uuid, ns text, o jsonb) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    scratch text := ns || '.eval';
    model jsonb;
BEGIN
    IF length(scratch) > 64 THEN
        RAISE EXCEPTION 'namespace "%" is too long to evaluate', ns USING ERRCODE = '22023',
            DETAIL = 'The evaluation builds a scratch namespace named after it with the suffix ".eval".';
    END IF;
    IF ns LIKE '%.eval' THEN
        RAISE EXCEPTION 'namespace "%" is an evaluation scratch namespace', ns USING ERRCODE = '22023';
    END IF;
    DROP TABLE IF EXISTS eval_train, eval_truth;
    CREATE TEMP TABLE eval_train ON COMMIT DROP AS
    SELECT e.user_id, e.item_id, e.type, e.value, e.ts, e.meta,
           count(*) OVER (PARTITION BY e.user_id) AS n,
           row_number() OVER (PARTITION BY e.user_id ORDER BY e.ts, e.item_id, e.seq) AS rn
      FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns;
    -- The last max(1, floor(n * holdout)) events of users with at least min_events go to test.
    CREATE TEMP TABLE eval_truth ON COMMIT DROP AS
    SELECT DISTINCT t.user_id, t.item_id FROM eval_train t
     WHERE t.n >= (o ->> 'min_events')::int
       AND t.rn > t.n - greatest(1, floor(t.n * (o ->> 'holdout')::float8));
    DELETE FROM eval_train t
     WHERE t.n >= (o ->> 'min_events')::int AND t.rn > t.n - greatest(1, floor(t.n * (o ->> 'holdout')::float8));
    IF NOT EXISTS (SELECT 1 FROM eval_truth) THEN
        RAISE EXCEPTION 'namespace "%" has no user with at least % events to evaluate', ns, o ->> 'min_events'
            USING ERRCODE = '55000';
    END IF;
    CREATE INDEX ON eval_truth (user_id, item_id);
    CREATE INDEX ON eval_train (user_id, item_id);
    -- Train popularity: the baseline's order and the head of the long-tail share.
    DROP TABLE IF EXISTS eval_popular;
    CREATE TEMP TABLE eval_popular ON COMMIT DROP AS
    SELECT t.item_id, count(*) AS n, row_number() OVER (ORDER BY count(*) DESC, t.item_id) AS pos
      FROM eval_train t GROUP BY t.item_id;
    CREATE INDEX ON eval_popular (pos);
    ANALYZE eval_train, eval_truth, eval_popular;

    -- The scratch namespace: catalogue, users, event types, configuration, segments, rules and
    -- overrides of the namespace, and the train events with every signal derived from them.
    PERFORM recsys._drop_scratch(org, scratch);
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[scratch]);
    UPDATE recsys.namespaces s SET covis_window = n.covis_window, embedding_dim = n.embedding_dim
      FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = ns AND s.org_id = org AND s.namespace = scratch;
    DELETE FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = scratch;
    INSERT INTO recsys.event_types SELECT org, scratch, t.type_id, t.name, t.weight, t.half_life_days
      FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = ns;
    INSERT INTO recsys.namespace_config (org_id, namespace, version, settings, previous, settings_hash, author, notes)
    SELECT org, scratch, 1, s.settings, '{}', md5(s.settings::text), 'recsys_evaluate', 'copy for evaluation'
      FROM recsys._namespace_settings(org, ns) s;
    INSERT INTO recsys.segments SELECT org, scratch, s.segment_id, s.priority, s.active, s.condition, s.profile, s.updated_at
      FROM recsys.segments s WHERE s.org_id = org AND s.namespace = ns;
    INSERT INTO recsys.rules (org_id, namespace, rule_id, action, target, boost, max_pins, surface, segment, valid_from,
                              valid_until, priority, enabled)
    SELECT org, scratch, gen_random_uuid(), r.action, r.target, r.boost, r.max_pins, r.surface, r.segment, r.valid_from,
           r.valid_until, r.priority, r.enabled
      FROM recsys.rules r WHERE r.org_id = org AND r.namespace = ns;
    INSERT INTO recsys.manual_overrides (org_id, namespace, item_id, action, value, surface, expires_at, notes, created_by)
    SELECT org, scratch, m.item_id, m.action, m.value, m.surface, m.expires_at, m.notes, m.created_by
      FROM recsys.manual_overrides m WHERE m.org_id = org AND m.namespace = ns AND m.cancelled_at IS NULL;
    INSERT INTO recsys.items (org_id, namespace, item_id, available, price, brand, category, tags, props, embedding, created_at)
    SELECT org, scratch, i.item_id, i.available, i.price, i.brand, i.category, i.tags, i.props, i.embedding, i.created_at
      FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns;
    INSERT INTO recsys.users (org_id, namespace, user_id, traits)
    SELECT org, scratch, u.user_id, u.traits FROM recsys.users u WHERE u.org_id = org AND u.namespace = ns;
    -- The events go in without the ingestion triggers (nothing here needs their checks), and the
    -- derived tables are built from all of them at once: far faster than batch upkeep. The
    -- scratch namespace is private to this transaction and dropped before it ends, so its
    -- co-visitation pairs are not stored: this backend's catalogue counts them from the events.
    SET LOCAL session_replication_role = replica;
    INSERT INTO recsys.events (org_id, namespace, user_id, item_id, type, value, ts, meta)
    SELECT org, scratch, t.user_id, t.item_id, t.type, t.value, t.ts, t.meta FROM eval_train t ORDER BY t.ts;
    SET LOCAL session_replication_role = origin;
    PERFORM recsys._rebuild_derived(org, scratch, false);
    PERFORM recsys._catalog_covis_from_events(org, scratch);
    ANALYZE recsys.item_popularity, recsys.user_items;

    -- A model trained on the train part only.
    SELECT m.options INTO model FROM recsys.factor_models m WHERE m.org_id = org AND m.namespace = ns;
    IF jsonb_typeof(o -> 'factors') = 'object' OR ((o -> 'factors')::boolean AND model IS NOT NULL) THEN
        PERFORM recsys.recsys_train_factors(scratch, CASE WHEN jsonb_typeof(o -> 'factors') = 'object'
                                                          THEN coalesce(model, '{}') || (o -> 'factors') ELSE model END);
    END IF;
    RETURN scratch;
END
$$;

-- Removes a scratch namespace and everything in it.
CREATE FUNCTION recsys._drop_scratch(org uuid, scratch text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = scratch) THEN
        DELETE FROM recsys.rules r WHERE r.org_id = org AND r.namespace = scratch;
        DELETE FROM recsys.manual_overrides m WHERE m.org_id = org AND m.namespace = scratch;
        DELETE FROM recsys.segments s WHERE s.org_id = org AND s.namespace = scratch;
        DELETE FROM recsys.namespace_config c WHERE c.org_id = org AND c.namespace = scratch;
        PERFORM recsys.recsys_reset_namespace(scratch, true);
    END IF;
END
$$;

-- Ranks every test user in the scratch namespace with `config` and scores the lists against
-- eval_truth, next to the popularity baseline of the train part: {model, baseline, lift,
-- segments?: {segment: {model, baseline, lift, users}}, users}.
CREATE FUNCTION recsys._eval_run(org uuid, scratch text, config jsonb, k int, by_segment boolean) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    DROP TABLE IF EXISTS eval_recs;
    CREATE TEMP TABLE eval_recs ON COMMIT DROP AS
    SELECT 'model'::text AS method, u.user_id, r.item_id, r.rank
      FROM (SELECT DISTINCT t.user_id FROM eval_truth t) u,
           LATERAL recsys._rank_core(org, scratch, u.user_id, k, 'default',
                                     config || '{"exclude_seen": true, "explain": "none"}', NULL) r
     WHERE r.rank IS NOT NULL;
    -- Popularity baseline: the most frequent train items the user has not seen.
    INSERT INTO eval_recs
    SELECT 'baseline', u.user_id, p.item_id, (row_number() OVER (PARTITION BY u.user_id ORDER BY p.pos))::int
      FROM (SELECT DISTINCT t.user_id FROM eval_truth t) u,
           LATERAL (SELECT c.item_id, c.pos FROM eval_popular c
                     WHERE NOT EXISTS (SELECT 1 FROM eval_train s WHERE s.user_id = u.user_id AND s.item_id = c.item_id)
                     ORDER BY c.pos LIMIT k) p;
    CREATE INDEX ON eval_recs (method, user_id);
    ANALYZE eval_recs;

    WITH catalogue AS (SELECT p.item_id FROM eval_popular p),
    head AS (SELECT p.item_id FROM eval_popular p WHERE p.pos <= (SELECT ceil(0.2 * count(*)) FROM eval_popular)),
    users AS (
        SELECT u.user_id, CASE WHEN by_segment THEN (SELECT s.segment_id FROM recsys._segment_of(org, scratch, u.user_id, '{}', '{}') s)
                               ELSE 'all' END AS segment, u.relevant
          FROM (SELECT t.user_id, count(*) AS relevant FROM eval_truth t GROUP BY t.user_id) u),
    methods (method) AS (VALUES ('model'), ('baseline')),
    -- Ideal DCG of n relevant items (n <= k).
    ideal AS (SELECT g AS n, sum(1 / log(2, g + 1)) OVER (ORDER BY g) AS dcg FROM generate_series(1, k) g),
    hits AS (
        SELECT r.method, r.user_id, sum(1 / log(2, r.rank + 1)) AS dcg, count(*) AS n, min(r.rank) AS first
          FROM eval_recs r JOIN eval_truth t USING (user_id, item_id) GROUP BY r.method, r.user_id),
    slots AS (
        SELECT r.method, r.user_id, count(*) AS filled, count(*) FILTER (WHERE r.item_id NOT IN (SELECT h.item_id FROM head h)) AS tail
          FROM eval_recs r GROUP BY r.method, r.user_id),
    -- Intra-list similarity: mean Jaccard of the tag, brand and category tokens over the pairs of a list.
    tokens AS (
        SELECT DISTINCT r.method, r.user_id, r.item_id, x.token
          FROM eval_recs r
          JOIN recsys.items i ON i.org_id = org AND i.namespace = scratch AND i.item_id = r.item_id,
               unnest(i.tags || coalesce('brand:' || i.brand, '{}') || coalesce('category:' || i.category, '{}')) AS x(token)),
    sizes AS (
        SELECT r.method, r.user_id, r.item_id, count(t.token) AS n
          FROM eval_recs r LEFT JOIN tokens t USING (method, user_id, item_id)
         GROUP BY 1, 2, 3),
    shared AS (
        SELECT a.method, a.user_id, a.item_id AS item_a, b.item_id AS item_b, count(*) AS n
          FROM tokens a JOIN tokens b ON b.method = a.method AND b.user_id = a.user_id AND b.token = a.token AND b.item_id > a.item_id
         GROUP BY 1, 2, 3, 4),
    ils AS (
        SELECT a.method, a.user_id,
               avg(coalesce(coalesce(sh.n, 0)::float8 / nullif(a.n + b.n - coalesce(sh.n, 0), 0), 0)) AS value
          FROM sizes a JOIN sizes b ON b.method = a.method AND b.user_id = a.user_id AND b.item_id > a.item_id
          LEFT JOIN shared sh ON sh.method = a.method AND sh.user_id = a.user_id AND sh.item_a = a.item_id AND sh.item_b = b.item_id
         GROUP BY a.method, a.user_id),
    per_user AS (
        SELECT m.method, u.user_id, u.segment,
               coalesce(h.dcg, 0) / (SELECT i.dcg FROM ideal i WHERE i.n = least(k, u.relevant)) AS ndcg,
               coalesce(h.n, 0)::float8 / u.relevant AS recall,
               coalesce(1.0 / h.first, 0) AS mrr,
               coalesce(sl.tail, 0) + k - coalesce(sl.filled, 0) AS tail_slots,
               il.value AS ils
          FROM methods m CROSS JOIN users u
          LEFT JOIN hits h ON h.method = m.method AND h.user_id = u.user_id
          LEFT JOIN slots sl ON sl.method = m.method AND sl.user_id = u.user_id
          LEFT JOIN ils il ON il.method = m.method AND il.user_id = u.user_id),
    grouped AS (
        SELECT p.method, coalesce(p.segment, '*') AS segment, GROUPING(p.segment) = 1 AS overall, count(*) AS users,
               avg(p.ndcg) AS ndcg, avg(p.recall) AS recall, avg(p.mrr) AS mrr, avg((p.mrr > 0)::int) AS hr,
               sum(p.tail_slots)::float8 / (count(*) * k) AS long_tail, avg(p.ils) AS intra_list_similarity,
               (SELECT count(DISTINCT r.item_id) FROM eval_recs r JOIN users u2 USING (user_id)
                 WHERE r.method = p.method AND (GROUPING(p.segment) = 1 OR u2.segment = p.segment)
                   AND r.item_id IN (SELECT c.item_id FROM catalogue c))::float8
                 / (SELECT count(*) FROM catalogue) AS coverage
          FROM per_user p
         GROUP BY GROUPING SETS ((p.method), (p.method, p.segment))),
    blocks AS (
        SELECT g.overall, g.segment, g.users,
               jsonb_object_agg(g.method, jsonb_build_object(
                   'ndcg', round(g.ndcg::numeric, 4), 'recall', round(g.recall::numeric, 4), 'mrr', round(g.mrr::numeric, 4),
                   'hr', round(g.hr::numeric, 4), 'coverage', round(g.coverage::numeric, 4),
                   'long_tail', round(g.long_tail::numeric, 4),
                   'intra_list_similarity', round(g.intra_list_similarity::numeric, 4))) AS metrics,
               jsonb_build_object(
                   'ndcg', round((max(g.ndcg) FILTER (WHERE g.method = 'model') / nullif(max(g.ndcg) FILTER (WHERE g.method = 'baseline'), 0) - 1)::numeric, 4),
                   'recall', round((max(g.recall) FILTER (WHERE g.method = 'model') / nullif(max(g.recall) FILTER (WHERE g.method = 'baseline'), 0) - 1)::numeric, 4),
                   'mrr', round((max(g.mrr) FILTER (WHERE g.method = 'model') / nullif(max(g.mrr) FILTER (WHERE g.method = 'baseline'), 0) - 1)::numeric, 4),
                   'hr', round((max(g.hr) FILTER (WHERE g.method = 'model') / nullif(max(g.hr) FILTER (WHERE g.method = 'baseline'), 0) - 1)::numeric, 4)) AS lift
          FROM grouped g GROUP BY g.overall, g.segment, g.users)
    SELECT (SELECT b.metrics || jsonb_build_object('lift', b.lift, 'users', b.users) FROM blocks b WHERE b.overall)
           || CASE WHEN by_segment THEN jsonb_build_object('segments', (SELECT jsonb_object_agg(b.segment,
                  b.metrics || jsonb_build_object('lift', b.lift, 'users', b.users)) FROM blocks b WHERE NOT b.overall))
              ELSE '{}' END
      INTO result;
    RETURN result;
END
$$;

-- Evaluates the namespace's ranking without leakage (see the header comment). Options: holdout,
-- min_events, k, config, segments, factors (see _eval_options). The result is stored in
-- recsys.evaluations and returned: {evaluation_id, options, model: {ndcg, recall, mrr, hr,
-- coverage, long_tail, intra_list_similarity}, baseline: {...}, lift: {ndcg, recall, mrr, hr},
-- users, segments: {segment: {...}}, seconds}.
CREATE FUNCTION recsys.recsys_evaluate(namespace text, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := recsys._eval_options(coalesce($2, '{}'));
    started timestamptz := clock_timestamp();
    scratch text;
    result jsonb;
    id uuid;
BEGIN
    PERFORM recsys._require_namespace(org, ns);
    PERFORM recsys._check_settings(o -> 'config', 'option "config"');
    scratch := recsys._eval_prepare(org, ns, o);
    result := recsys._eval_run(org, scratch, o -> 'config', (o ->> 'k')::int, (o -> 'segments')::boolean);
    PERFORM recsys._drop_scratch(org, scratch);
    INSERT INTO recsys.evaluations (org_id, namespace, options, results, seconds)
    VALUES (org, ns, o, result, extract(epoch FROM clock_timestamp() - started))
    RETURNING evaluation_id INTO id;
    RETURN jsonb_build_object('evaluation_id', id, 'options', o) || result
        || jsonb_build_object('seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3));
END
$$;

-- Guardrails of a namespace: the defaults (+10% NDCG and MRR lift per segment, coverage at least
-- 0.60, long-tail share at least 0.20) under the namespace's stored settings.
CREATE FUNCTION recsys._guardrails(org uuid, ns text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '{"ndcg_lift": 0.10, "mrr_lift": 0.10, "coverage": 0.60, "long_tail": 0.20}'::jsonb
           || coalesce((SELECT g.settings FROM recsys.guardrail_settings g WHERE g.org_id = org AND g.namespace = ns), '{}');
$$;

-- Stores a namespace's guardrail thresholds {ndcg_lift?, mrr_lift?, coverage?, long_tail?}.
CREATE FUNCTION recsys.recsys_set_guardrails(namespace text, guardrails jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    PERFORM recsys._check_guardrail_values($2);
    INSERT INTO recsys.guardrail_settings AS g (org_id, namespace, settings) VALUES (org, ns, $2)
    ON CONFLICT (org_id, namespace) DO UPDATE SET settings = excluded.settings;
    RETURN recsys._guardrails(org, ns);
END
$$;

-- Checks guardrail thresholds: known names, numbers (lifts from -1 to 100, shares from 0 to 1).
CREATE FUNCTION recsys._check_guardrail_values(g jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM recsys._check_filter(g, ARRAY['ndcg_lift', 'mrr_lift', 'coverage', 'long_tail', 'raise'], 'guardrails');
    PERFORM recsys._option_number(g, 'ndcg_lift', -1, 100, 0);
    PERFORM recsys._option_number(g, 'mrr_lift', -1, 100, 0);
    PERFORM recsys._option_number(g, 'coverage', 0, 1, 0);
    PERFORM recsys._option_number(g, 'long_tail', 0, 1, 0);
    IF g ? 'raise' AND jsonb_typeof(g -> 'raise') <> 'boolean' THEN
        RAISE EXCEPTION 'option "raise" must be a boolean' USING ERRCODE = '22023';
    END IF;
END
$$;

-- Checks the namespace's latest evaluation against its guardrails (overridden by `guardrails`):
-- NDCG and MRR lift per segment (and overall), overall coverage and long-tail share. One row per
-- check; with {"raise": true} the first failure raises 23514.
CREATE FUNCTION recsys.recsys_check_guardrails(namespace text, guardrails jsonb DEFAULT NULL)
    RETURNS TABLE (segment text, check_name text, value float8, threshold float8, passed boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    g jsonb;
    latest jsonb;
    failed record;
BEGIN
    PERFORM recsys._check_guardrail_values(coalesce($2, '{}'));
    g := recsys._guardrails(org, ns) || coalesce($2, '{}');
    SELECT e.results INTO latest FROM recsys.evaluations e WHERE e.org_id = org AND e.namespace = ns
     ORDER BY e.created_at DESC LIMIT 1;
    IF latest IS NULL THEN
        RAISE EXCEPTION 'namespace "%" has no evaluation', ns USING ERRCODE = '55000', HINT = 'Run recsys_evaluate first.';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS guardrail_checks (segment text, check_name text, value float8, threshold float8,
                                                      passed boolean) ON COMMIT DROP;
    TRUNCATE guardrail_checks;
    INSERT INTO guardrail_checks
    SELECT s.segment, c.name, (s.block -> 'lift' ->> c.metric)::float8, (g ->> c.name)::float8,
           coalesce((s.block -> 'lift' ->> c.metric)::float8 >= (g ->> c.name)::float8, false)
      FROM (SELECT '*' AS segment, latest AS block UNION ALL
            SELECT x.key, x.value FROM jsonb_each(coalesce(latest -> 'segments', '{}')) x) s,
           (VALUES ('ndcg_lift', 'ndcg'), ('mrr_lift', 'mrr')) c(name, metric)
    UNION ALL
    SELECT '*', c.name, (latest -> 'model' ->> c.metric)::float8, (g ->> c.name)::float8,
           (latest -> 'model' ->> c.metric)::float8 >= (g ->> c.name)::float8
      FROM (VALUES ('coverage', 'coverage'), ('long_tail', 'long_tail')) c(name, metric);
    IF coalesce((g -> 'raise')::boolean, false) THEN
        SELECT * INTO failed FROM guardrail_checks gc WHERE NOT gc.passed ORDER BY gc.segment, gc.check_name LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'guardrail % failed for segment "%": % is below %', failed.check_name, failed.segment,
                round(failed.value::numeric, 4), failed.threshold USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM guardrail_checks gc ORDER BY gc.segment, gc.check_name;
END
$$;

-- Searches ranking knobs (and training options: factors, regularization, als_alpha, iterations)
-- on one train/test split: grid {knob: [values]} as a full grid, or with {"method": "random",
-- "samples": n, "seed": s} n seeded random combinations. Every run is stored in
-- recsys.tuning_runs; returns {tune_id, runs, metric, best: {config, metrics}, best_by_segment}.
-- Other options as recsys_evaluate (holdout, min_events, k, segments), and metric (ndcg).
CREATE FUNCTION recsys.recsys_tune(namespace text, grid jsonb, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    opts jsonb := coalesce($3, '{}');
    o jsonb;
    tune uuid := gen_random_uuid();
    metric text;
    scratch text;
    combo record;
    run int := 0;
    result jsonb;
    training constant text[] := ARRAY['factors', 'regularization', 'als_alpha', 'iterations'];
    trained jsonb := NULL;
    wanted jsonb;
    knob_names text[] := ARRAY(SELECT name FROM recsys.config_knobs);
BEGIN
    IF jsonb_typeof($2) IS DISTINCT FROM 'object' OR $2 = '{}' THEN
        RAISE EXCEPTION 'grid must be a non-empty JSON object of knob: [values]' USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_filter($2, knob_names || training, 'grid');
    IF EXISTS (SELECT 1 FROM jsonb_each($2) x WHERE jsonb_typeof(x.value) <> 'array' OR jsonb_array_length(x.value) = 0) THEN
        RAISE EXCEPTION 'grid value "%" must be a non-empty array',
            (SELECT x.key FROM jsonb_each($2) x WHERE jsonb_typeof(x.value) <> 'array' OR jsonb_array_length(x.value) = 0
              ORDER BY 1 LIMIT 1) USING ERRCODE = '22023';
    END IF;
    metric := coalesce(opts ->> 'metric', 'ndcg');
    IF metric NOT IN ('ndcg', 'recall', 'mrr', 'hr', 'coverage', 'long_tail') THEN
        RAISE EXCEPTION 'option "metric" must be one of ndcg, recall, mrr, hr, coverage, long_tail' USING ERRCODE = '22023';
    END IF;
    IF coalesce(opts ->> 'method', 'grid') NOT IN ('grid', 'random') THEN
        RAISE EXCEPTION 'option "method" must be grid or random' USING ERRCODE = '22023';
    END IF;
    o := recsys._eval_options(opts - 'metric' - 'method' - 'samples' - 'seed');
    -- Every combination (grid) or a seeded sample of them (random), each validated as knobs.
    CREATE TEMP TABLE tune_configs ON COMMIT DROP AS
    WITH RECURSIVE keys AS (SELECT x.key, x.value, row_number() OVER (ORDER BY x.key) AS n FROM jsonb_each($2) x),
    combos (n, config) AS (
        SELECT 0::bigint, '{}'::jsonb
        UNION ALL
        SELECT k.n, c.config || jsonb_build_object(k.key, v.value)
          FROM combos c JOIN keys k ON k.n = c.n + 1, jsonb_array_elements(k.value) v)
    SELECT row_number() OVER (ORDER BY c.config::text) AS run, c.config
      FROM combos c WHERE c.n = (SELECT count(*) FROM keys);
    IF coalesce(opts ->> 'method', 'grid') = 'random' THEN
        PERFORM setseed(recsys._option_number(opts, 'seed', 0, 1, 0.42));
        DELETE FROM tune_configs t WHERE t.run NOT IN (
            SELECT x.run FROM tune_configs x ORDER BY random() LIMIT recsys._option_int(opts, 'samples', 1, 1000, 20));
    END IF;
    PERFORM recsys._check_settings(c.config - training, 'grid') FROM tune_configs c;

    scratch := recsys._eval_prepare(org, ns, o || '{"factors": false}');
    FOR combo IN SELECT * FROM tune_configs ORDER BY run LOOP
        run := run + 1;
        -- Retrain only when the training options change.
        wanted := (SELECT coalesce(jsonb_object_agg(CASE x.key WHEN 'als_alpha' THEN 'alpha' ELSE x.key END, x.value), '{}')
                     FROM jsonb_each(combo.config) x WHERE x.key = ANY (training));
        IF wanted <> '{}' OR (o -> 'factors') <> 'false' THEN
            wanted := coalesce((SELECT m.options FROM recsys.factor_models m WHERE m.org_id = org AND m.namespace = ns), '{}')
                      || CASE WHEN jsonb_typeof(o -> 'factors') = 'object' THEN o -> 'factors' ELSE '{}' END || wanted;
            IF (wanted <> '{}' OR EXISTS (SELECT 1 FROM recsys.factor_models m WHERE m.org_id = org AND m.namespace = ns))
               AND trained IS DISTINCT FROM wanted THEN
                PERFORM recsys.recsys_train_factors(scratch, wanted);
                trained := wanted;
            END IF;
        END IF;
        result := recsys._eval_run(org, scratch, (o -> 'config') || (combo.config - training), (o ->> 'k')::int,
                                   (o -> 'segments')::boolean);
        INSERT INTO recsys.tuning_runs (org_id, namespace, tune_id, run, config, results)
        VALUES (org, ns, tune, run, combo.config, result);
        RAISE NOTICE 'tuning run % of %: % = %', run, (SELECT count(*) FROM tune_configs), metric, result -> 'model' ->> metric;
    END LOOP;
    PERFORM recsys._drop_scratch(org, scratch);
    DROP TABLE tune_configs;
    RETURN jsonb_build_object(
        'tune_id', tune, 'runs', run, 'metric', metric,
        'best', (SELECT jsonb_build_object('config', t.config, 'model', t.results -> 'model', 'baseline', t.results -> 'baseline',
                                           'lift', t.results -> 'lift')
                   FROM recsys.tuning_runs t WHERE t.org_id = org AND t.namespace = ns AND t.tune_id = tune
                  ORDER BY (t.results -> 'model' ->> metric)::float8 DESC, t.run LIMIT 1),
        'best_by_segment', (SELECT jsonb_object_agg(b.segment, jsonb_build_object('config', b.config, metric, b.value))
                              FROM (SELECT DISTINCT ON (s.key) s.key AS segment, t.config,
                                           (s.value -> 'model' ->> metric)::float8 AS value
                                      FROM recsys.tuning_runs t, jsonb_each(coalesce(t.results -> 'segments', '{}')) s
                                     WHERE t.org_id = org AND t.namespace = ns AND t.tune_id = tune
                                     ORDER BY s.key, (s.value -> 'model' ->> metric)::float8 DESC, t.run) b));
END
$$;
