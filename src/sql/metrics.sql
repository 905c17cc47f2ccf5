-- Telemetry: recsys.metrics (name, labels, value) for prometheus-postgres-exporter (queries in
-- metrics/postgres_exporter.yml) and recsys.top_served_items. Labels are bounded: organisation,
-- namespace, surface, action, filter stage, latency bucket; never an item or a user. Metrics over
-- logged decisions cover the last recsys.metrics_window_minutes; decisions_skipped counts since
-- server start. recsys.metrics sees every organisation and is granted to recsys_monitor only.

-- Head of each namespace's catalogue: its 20% most popular available items (decayed popularity
-- now), the reference of the long-tail share.
CREATE FUNCTION recsys._popular_head(org uuid, ns text) RETURNS TABLE (item_id text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.item_id
      FROM recsys._popularity_at(org, ns, now()) p
      JOIN recsys.items i ON i.org_id = org AND i.namespace = ns AND i.item_id = p.item_id AND i.available
     ORDER BY p.score DESC, p.item_id
     LIMIT (SELECT ceil(0.2 * count(*)) FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns AND i.available);
$$;

-- Every metric row; see the header comment and docs/operations.md. A plain view (read with its
-- owner's rights), so that a query for one metric name runs only that name's branch.
CREATE VIEW recsys.metrics AS
    WITH recent AS MATERIALIZED (
        SELECT d.org_id, d.namespace, d.surface, d.items, d.item_ids, d.rules, d.funnel, d.dropped, d.options,
               d.duration_ms
          FROM recsys.rec_decisions d
         WHERE d.created_at >= now() - make_interval(mins => recsys._metrics_window_minutes())),
    served AS (
        SELECT r.org_id, r.namespace, r.surface, x ->> 'item_id' AS item_id, x -> 'rules' AS rules,
               r.dropped ? (x ->> 'item_id')
                 OR coalesce(r.options -> 'exclude_item_ids', '[]') ? (x ->> 'item_id') AS leaked
          FROM recent r, jsonb_array_elements(r.items) x),
    namespaces AS (SELECT DISTINCT r.org_id, r.namespace FROM recent r),
    bandit AS (
        SELECT b.org_id, b.namespace, b.surface,
               count(*) FILTER (WHERE b.created_at >= now() - make_interval(mins => recsys._metrics_window_minutes())) AS decisions,
               count(*) FILTER (WHERE b.rewarded_at >= now() - make_interval(mins => recsys._metrics_window_minutes())) AS rewards,
               coalesce(sum(b.reward) FILTER (WHERE b.rewarded_at >= now() - make_interval(mins => recsys._metrics_window_minutes())), 0) AS reward_sum
          FROM recsys.bandit_decisions b
         WHERE b.created_at >= now() - make_interval(mins => recsys._metrics_window_minutes())
            OR b.rewarded_at >= now() - make_interval(mins => recsys._metrics_window_minutes())
         GROUP BY 1, 2, 3),
    buckets (le) AS (VALUES (1), (2), (5), (10), (25), (50), (100), (250), (1000))
    SELECT 'decisions'::text AS name, jsonb_build_object('org', r.org_id, 'namespace', r.namespace, 'surface', r.surface) AS labels,
           count(*)::float8 AS value
      FROM recent r GROUP BY r.org_id, r.namespace, r.surface
    UNION ALL
    SELECT 'items_served', jsonb_build_object('org', r.org_id, 'namespace', r.namespace, 'surface', r.surface),
           sum(cardinality(r.item_ids))
      FROM recent r GROUP BY r.org_id, r.namespace, r.surface
    UNION ALL
    -- Rules (not overrides) acting on candidates, by action: candidates named, summed over rules.
    SELECT 'rule_actions', jsonb_build_object('org', r.org_id, 'namespace', r.namespace, 'action', e.value ->> 'action'),
           sum((e.value ->> 'candidates')::bigint)
      FROM recent r, jsonb_each(r.rules) e
     WHERE (e.value ->> 'priority')::bigint <> 2147483647
     GROUP BY r.org_id, r.namespace, e.value ->> 'action'
    UNION ALL
    -- Served items that a rule (rule_exposure) or a manual override (override_exposure) acted on.
    SELECT CASE WHEN (x ->> 'priority')::bigint = 2147483647 THEN 'override_exposure' ELSE 'rule_exposure' END,
           jsonb_build_object('org', s.org_id, 'namespace', s.namespace, 'action', x ->> 'action'), count(*)
      FROM served s, jsonb_array_elements(coalesce(s.rules, '[]')) x
     GROUP BY 1, s.org_id, s.namespace, x ->> 'action'
    UNION ALL
    SELECT 'filter_drops', jsonb_build_object('org', r.org_id, 'namespace', r.namespace, 'stage', f.key), sum(f.value::text::float8)
      FROM recent r, jsonb_each(r.funnel) f
     WHERE f.key IN ('unavailable', 'blocked', 'excluded', 'seen', 'purchased', 'tags', 'price', 'freshness')
     GROUP BY r.org_id, r.namespace, f.key
    UNION ALL
    -- Served items that a filter of the same request removed or that it excluded: must stay 0.
    SELECT 'filter_leaks', jsonb_build_object('org', s.org_id, 'namespace', s.namespace), count(*) FILTER (WHERE s.leaked)
      FROM served s GROUP BY s.org_id, s.namespace
    UNION ALL
    SELECT 'catalogue_items', jsonb_build_object('org', i.org_id, 'namespace', i.namespace, 'available', i.available::text),
           count(*)
      FROM recsys.items i GROUP BY i.org_id, i.namespace, i.available
    UNION ALL
    -- Distinct served items over available items.
    SELECT 'served_coverage', jsonb_build_object('org', n.org_id, 'namespace', n.namespace),
           (SELECT count(DISTINCT s.item_id) FROM served s WHERE s.org_id = n.org_id AND s.namespace = n.namespace)::float8
           / greatest(1, (SELECT count(*) FROM recsys.items i WHERE i.org_id = n.org_id AND i.namespace = n.namespace AND i.available))
      FROM namespaces n
    UNION ALL
    -- Share of served slots outside the 20% most popular available items.
    SELECT 'served_long_tail_share', jsonb_build_object('org', n.org_id, 'namespace', n.namespace),
           (SELECT avg(CASE WHEN s.item_id IN (SELECT h.item_id FROM recsys._popular_head(n.org_id, n.namespace) h)
                            THEN 0 ELSE 1 END)
              FROM served s WHERE s.org_id = n.org_id AND s.namespace = n.namespace)
      FROM namespaces n
    UNION ALL
    SELECT 'bandit_decisions', jsonb_build_object('org', b.org_id, 'namespace', b.namespace, 'surface', b.surface), b.decisions
      FROM bandit b
    UNION ALL
    SELECT 'bandit_rewards', jsonb_build_object('org', b.org_id, 'namespace', b.namespace, 'surface', b.surface), b.rewards
      FROM bandit b
    UNION ALL
    SELECT 'bandit_reward_sum', jsonb_build_object('org', b.org_id, 'namespace', b.namespace, 'surface', b.surface), b.reward_sum
      FROM bandit b
    UNION ALL
    SELECT 'decisions_skipped', jsonb_build_object('reason', x.reason), x.n
      FROM recsys._skipped_decisions() c, LATERAL (VALUES ('read_only', c.read_only), ('standby', c.standby)) x(reason, n)
    UNION ALL
    -- Cumulative latency histogram of the logged durations (Prometheus buckets, le in ms).
    SELECT 'decision_duration_ms_bucket', jsonb_build_object('org', n.org_id, 'namespace', n.namespace, 'le', b.le::text),
           (SELECT count(*) FROM recent r WHERE r.org_id = n.org_id AND r.namespace = n.namespace AND r.duration_ms <= b.le)
      FROM namespaces n, buckets b
    UNION ALL
    SELECT 'decision_duration_ms_bucket', jsonb_build_object('org', r.org_id, 'namespace', r.namespace, 'le', '+Inf'), count(*)
      FROM recent r GROUP BY r.org_id, r.namespace
    UNION ALL
    SELECT 'decision_duration_ms_sum', jsonb_build_object('org', r.org_id, 'namespace', r.namespace), sum(r.duration_ms)
      FROM recent r GROUP BY r.org_id, r.namespace;

-- The most served items of each namespace over the metrics window (at most 20 per namespace),
-- for dashboards; per-item, so not a Prometheus metric. Callers see their organisation's rows.
CREATE VIEW recsys.top_served_items WITH (security_invoker = true) AS
SELECT org_id, namespace, item_id, served, rank
  FROM (SELECT d.org_id, d.namespace, x.item_id, count(*) AS served,
               row_number() OVER (PARTITION BY d.org_id, d.namespace ORDER BY count(*) DESC, x.item_id)::int AS rank
          FROM recsys.rec_decisions d, unnest(d.item_ids) AS x(item_id)
         WHERE d.created_at >= now() - make_interval(mins => recsys._metrics_window_minutes())
         GROUP BY d.org_id, d.namespace, x.item_id) t
 WHERE rank <= 20;
