-- The decision log (rec_decisions): what was served, to whom (a salted hash of the user id), why,
-- with which configuration, and how long it took. Partitioned by UTC day of created_at;
-- recsys_maintain_decisions drops the days past recsys.decision_retention_days and creates the
-- next ones. A decision is written in the caller's transaction, so it is rolled back with it.
-- A read-only transaction or a standby serves without logging and counts the skip in shared
-- memory (src/pg/counters.cpp).

CREATE FUNCTION recsys._decision_retention_days() RETURNS int
    AS 'MODULE_PATHNAME', 'recsys_decision_retention_days' LANGUAGE C STABLE;
CREATE FUNCTION recsys._metrics_window_minutes() RETURNS int
    AS 'MODULE_PATHNAME', 'recsys_metrics_window_minutes' LANGUAGE C STABLE;
CREATE FUNCTION recsys._count_skipped_decision(standby boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'recsys_count_skipped_decision' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION recsys._skipped_decisions(OUT read_only bigint, OUT standby bigint)
    AS 'MODULE_PATHNAME', 'recsys_skipped_decisions' LANGUAGE C VOLATILE;

-- The salt of each organisation's user hashes (created with its first logged decision).
CREATE TABLE recsys.decision_salts (
    org_id uuid PRIMARY KEY,
    salt text NOT NULL
);

-- The large columns use lz4 rather than pglz: at 100k items a decision (about 1,900 candidate
-- ids) is inserted in 0.26 ms instead of 0.62 ms, its candidates taking a third more space.
-- Partitions inherit the setting.
CREATE TABLE recsys.rec_decisions (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    created_at timestamptz NOT NULL,
    decision_id uuid NOT NULL,
    request_id uuid NOT NULL,
    function text NOT NULL CHECK (function IN ('rank', 'rerank', 'recommend', 'bandit_recommend')),
    surface text COLLATE "C" NOT NULL,
    user_hash text NOT NULL,
    user_id text COLLATE "C",           -- only with the knob decision_log_user_ids
    k int NOT NULL,
    options jsonb NOT NULL,             -- the request options as given
    config jsonb COMPRESSION lz4 NOT NULL, -- every effective knob
    config_hash text NOT NULL,
    funnel jsonb NOT NULL,              -- candidates removed by each filter stage
    dropped jsonb COMPRESSION lz4 NOT NULL, -- {item_id: filter stage} of the removed candidates
    candidates text[] COMPRESSION lz4 COLLATE "C" NOT NULL,
    items jsonb COMPRESSION lz4 NOT NULL, -- [{rank, item_id, score, reasons, rules?}]
    item_ids text[] COLLATE "C" NOT NULL,
    rules jsonb COMPRESSION lz4 NOT NULL, -- {rule_id: {action, priority, candidates}}: how many candidates each rule named
    rule_ids text[] COLLATE "C" NOT NULL,
    segment text,
    bandit jsonb,
    duration_ms float8 NOT NULL
) PARTITION BY RANGE (created_at);

SELECT recsys._isolate_tenants(ARRAY['rec_decisions', 'decision_salts']);

-- Name of the partition of UTC day `day`. STABLE like to_char, so that the planner inlines it: a
-- call that is not inlined plans its body again in every transaction (~0.04 ms of each logged call).
CREATE FUNCTION recsys._decision_partition_name(day date) RETURNS text
LANGUAGE sql STABLE
RETURN 'rec_decisions_' || to_char(day, 'YYYYMMDD');

-- Creates the partition of UTC day `day` unless it exists; true when it was created.
CREATE FUNCTION recsys._ensure_decision_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part text := recsys._decision_partition_name(day);
BEGIN
    IF to_regclass('recsys.' || part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('recsys.decision_partitions'));
    IF to_regclass('recsys.' || part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE recsys.%I PARTITION OF recsys.rec_decisions FOR VALUES FROM (%L) TO (%L)',
                   part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    -- Indexes per partition, not on the parent (see recsys._index_event_partition).
    EXECUTE format('ALTER TABLE recsys.%I ADD PRIMARY KEY (org_id, namespace, created_at, decision_id)', part);
    EXECUTE format('CREATE INDEX %I ON recsys.%I (org_id, namespace, user_hash, created_at)', part || '_user', part);
    EXECUTE format('CREATE INDEX %I ON recsys.%I (request_id)', part || '_request', part);
    EXECUTE format('CREATE INDEX %I ON recsys.%I (decision_id)', part || '_decision', part);
    EXECUTE format('CREATE INDEX %I ON recsys.%I USING gin (item_ids)', part || '_items', part);
    EXECUTE format('CREATE INDEX %I ON recsys.%I USING gin (rule_ids)', part || '_rules', part);
    RETURN true;
END
$$;

-- Drops the decision partitions whose day ended more than recsys.decision_retention_days ago
-- (a cheap DROP TABLE each) and creates the partitions of today and the next two days, so that
-- serving never has to. Returns {dropped: [names], created: [names], retention_days}. Meant to
-- run daily (see docs/operations.md for pg_cron).
CREATE FUNCTION recsys.recsys_maintain_decisions() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep_days int := recsys._decision_retention_days();
    today date := (now() AT TIME ZONE 'UTC')::date;
    part record;
    dropped text[] := '{}';
    created text[] := '{}';
BEGIN
    IF current_setting('transaction_read_only') = 'on' THEN
        RAISE EXCEPTION 'recsys_maintain_decisions needs a read-write transaction' USING ERRCODE = '25006';
    END IF;
    FOR part IN
        SELECT c.relname
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'recsys.rec_decisions'::regclass AND c.relname ~ '^rec_decisions_[0-9]{8}$'
           AND to_date(substr(c.relname, 15), 'YYYYMMDD') + 1 <= today - keep_days
         ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE recsys.%I', part.relname);
        dropped := dropped || part.relname::text;
    END LOOP;
    FOR d IN 0..2 LOOP
        IF recsys._ensure_decision_partition(today + d) THEN
            created := created || recsys._decision_partition_name(today + d);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('dropped', to_jsonb(dropped), 'created', to_jsonb(created), 'retention_days', keep_days);
END
$$;

-- The hash of a user id under an organisation's salt. SQL, so that the planner inlines it.
CREATE FUNCTION recsys._salted_hash(salt text, uid text) RETURNS text
LANGUAGE sql STABLE
RETURN encode(sha256(convert_to(salt || '/' || uid, 'UTF8')), 'hex');

-- The salted hash under which org's decisions store a user id; with make_salt, the org's salt
-- is made when it has none (NULL otherwise).
CREATE FUNCTION recsys._user_hash(org uuid, uid text, make_salt boolean) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org_salt text;
BEGIN
    SELECT s.salt INTO org_salt FROM recsys.decision_salts s WHERE s.org_id = org;
    IF org_salt IS NULL AND make_salt THEN
        INSERT INTO recsys.decision_salts (org_id, salt) VALUES (org, gen_random_uuid()::text)
        ON CONFLICT (org_id) DO NOTHING;
        SELECT s.salt INTO org_salt FROM recsys.decision_salts s WHERE s.org_id = org;
    END IF;
    RETURN recsys._salted_hash(org_salt, uid);
END
$$;

-- Writes one decision unless the transaction is read-only (counted as skipped) or the
-- namespace's decision_sample_rate leaves it out; true when written. `items` are the served items
-- with the rules that named each ([{rank, item_id, score, reasons, rules?}]), `trace` the
-- first-row trace of _rank_core.
CREATE FUNCTION recsys._log_decision(org uuid, ns text, fn text, surface text, uid text, k int, options jsonb,
                                     decision_id uuid, request_id uuid, items jsonb, trace jsonb, candidates text[],
                                     bandit jsonb, started timestamptz) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    config jsonb := trace -> 'config';
    at timestamptz := clock_timestamp();
    rules jsonb := coalesce(trace -> 'rules', '{}');
BEGIN
    IF current_setting('transaction_read_only') = 'on' THEN
        PERFORM recsys._count_skipped_decision(pg_is_in_recovery());
        RETURN false;
    END IF;
    IF random() >= (config ->> 'decision_sample_rate')::float8 THEN
        RETURN false;
    END IF;
    -- The day's partition usually exists (recsys_maintain_decisions creates it ahead): looked up
    -- here, which is cheaper than calling the SECURITY DEFINER function that creates it. Likewise
    -- the user's hash reads the org's salt in the statement and calls _user_hash (a PL/pgSQL call,
    -- ~0.05 ms) only to make the salt of the org's first decision.
    IF to_regclass('recsys.' || recsys._decision_partition_name((at AT TIME ZONE 'UTC')::date)) IS NULL THEN
        PERFORM recsys._ensure_decision_partition((at AT TIME ZONE 'UTC')::date);
    END IF;
    INSERT INTO recsys.rec_decisions (org_id, namespace, created_at, decision_id, request_id, function, surface,
                                      user_hash, user_id, k, options, config, config_hash, funnel, dropped,
                                      candidates, items, item_ids, rules, rule_ids, segment, bandit, duration_ms)
    SELECT org, ns, at, decision_id, request_id, fn, surface,
           coalesce((SELECT recsys._salted_hash(s.salt, uid) FROM recsys.decision_salts s WHERE s.org_id = org),
                    recsys._user_hash(org, uid, true)),
           CASE WHEN (config -> 'decision_log_user_ids')::boolean THEN uid END, k, coalesce(options, '{}'),
           config, md5(config::text), coalesce(trace -> 'funnel', '{}'), coalesce(trace -> 'dropped', '{}'),
           coalesce(candidates, '{}'),
           items,
           ARRAY(SELECT i ->> 'item_id' FROM jsonb_array_elements(items) i ORDER BY (i ->> 'rank')::int),
           rules,
           ARRAY(SELECT r FROM jsonb_object_keys(rules) r ORDER BY 1),
           trace ->> 'segment', bandit, extract(epoch FROM clock_timestamp() - started) * 1000;
    RETURN true;
END
$$;

-- Ranks through _rank_core and logs the decision: returns {decision_id, request_id, logged,
-- items: [{rank, item_id, score, reasons, explain?}], trace: {funnel, segment, config, ...}}.
-- fn names the caller (rank, rerank, recommend, bandit_recommend); policy holds the knobs of a
-- bandit policy (see _rank_options).
CREATE FUNCTION recsys._serve(org uuid, ns text, fn text, uid text, k int, surface text, options jsonb,
                              pool_ids text[], bandit jsonb, request_id uuid, policy jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started timestamptz := clock_timestamp();
    decision uuid := gen_random_uuid();
    items jsonb;
    logged_items jsonb;
    trace jsonb;
    candidates text[];
BEGIN
    -- One pass over the rows; only the first carries the trace and the candidates (max picks that
    -- one value: array_agg of arrays would make a two-dimensional array).
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'rank', r.rank, 'item_id', r.item_id, 'score', r.score, 'reasons', to_jsonb(r.reasons),
                        'explain', r.explain)) ORDER BY r.rank) FILTER (WHERE r.rank IS NOT NULL), '[]'),
           coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'rank', r.rank, 'item_id', r.item_id, 'score', r.score, 'reasons', to_jsonb(r.reasons),
                        'rules', r.rules)) ORDER BY r.rank) FILTER (WHERE r.rank IS NOT NULL), '[]'),
           (array_agg(r.trace) FILTER (WHERE r.trace IS NOT NULL))[1],
           max(r.candidates) FILTER (WHERE r.trace IS NOT NULL)
      INTO items, logged_items, trace, candidates
      FROM recsys._rank_core(org, ns, uid, k, surface, options, pool_ids, policy) r;
    RETURN jsonb_build_object('decision_id', decision, 'request_id', request_id, 'items', items, 'trace', trace,
                              'logged', recsys._log_decision(org, ns, fn, surface, uid, k, options, decision, request_id,
                                                             logged_items, trace, candidates, bandit, started));
END
$$;

-- One row of recsys_decisions.
CREATE TYPE recsys.decision_summary AS (
    decision_id uuid, request_id uuid, created_at timestamptz, function text, surface text, user_hash text,
    segment text, k int, item_ids text[], rule_ids text[], policy_id text, duration_ms float8);

-- Logged decisions of a namespace, newest first: filtered by time ([since, until)), user,
-- request, an item that was served or a rule that acted on a candidate; at most lim rows (1 to
-- 1000). Page by passing the created_at of the last row as `until`.
CREATE FUNCTION recsys.recsys_decisions(namespace text, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
                                        user_id text DEFAULT NULL, request_id text DEFAULT NULL, lim int DEFAULT 50,
                                        item_id text DEFAULT NULL, rule_id text DEFAULT NULL)
    RETURNS SETOF recsys.decision_summary
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    wanted_request uuid;
    wanted_user text;
BEGIN
    IF $6 IS NULL OR $6 < 1 OR $6 > 1000 THEN
        RAISE EXCEPTION 'lim must be between 1 and 1000, not %', coalesce($6::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF $2 > $3 THEN
        RAISE EXCEPTION 'since (%) is after until (%)', $2, $3 USING ERRCODE = '22023';
    END IF;
    IF $5 IS NOT NULL THEN
        wanted_request := recsys._try_uuid($5);
        IF wanted_request IS NULL THEN
            RAISE EXCEPTION 'request_id % is not a UUID', quote_literal($5) USING ERRCODE = '22P02';
        END IF;
    END IF;
    IF $4 IS NOT NULL THEN
        wanted_user := recsys._user_hash(org, $4, false);
    END IF;
    RETURN QUERY
    SELECT d.decision_id, d.request_id, d.created_at, d.function, d.surface, d.user_hash, d.segment, d.k, d.item_ids,
           d.rule_ids, d.bandit ->> 'policy_id', d.duration_ms
      FROM recsys.rec_decisions d
     WHERE d.org_id = org AND d.namespace = ns
       AND ($2 IS NULL OR d.created_at >= $2) AND ($3 IS NULL OR d.created_at < $3)
       AND ($4 IS NULL OR d.user_hash = wanted_user)
       AND ($5 IS NULL OR d.request_id = wanted_request)
       AND ($7 IS NULL OR d.item_ids @> ARRAY[$7::text COLLATE "C"])
       AND ($8 IS NULL OR d.rule_ids @> ARRAY[$8::text COLLATE "C"])
     ORDER BY d.created_at DESC, d.decision_id DESC
     LIMIT $6;
END
$$;

-- The full trace of one decision of the caller's organisation, as jsonb.
CREATE FUNCTION recsys.recsys_decision(decision_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    wanted uuid := recsys._try_uuid($1);
    found jsonb;
BEGIN
    IF wanted IS NULL THEN
        RAISE EXCEPTION 'decision_id % is not a UUID', coalesce(quote_literal($1), 'NULL') USING ERRCODE = '22P02';
    END IF;
    SELECT to_jsonb(d) - 'org_id' INTO found FROM recsys.rec_decisions d WHERE d.decision_id = wanted AND d.org_id = org;
    IF found IS NULL THEN
        RAISE EXCEPTION 'decision "%" does not exist', $1 USING ERRCODE = '42704',
            DETAIL = 'It was never logged (sampling, a read-only transaction, a rolled-back transaction), '
                     'belongs to another organisation, or is past the retention period.';
    END IF;
    RETURN found;
END
$$;

-- A deterministic facts pack about one item since `since` (default: 7 days ago): the item, its
-- signals now, how often logged decisions had it as a candidate and served it (by surface, with
-- its mean rank), which filters removed it, which rules and overrides acted on it in served
-- lists, and which rules and overrides apply to it now.
CREATE FUNCTION recsys.recsys_explain_item(namespace text, item_id text, since timestamptz DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    wanted text COLLATE "C" := $2;
    from_ts timestamptz := coalesce($3, now() - interval '7 days');
    item record;
    facts jsonb;
BEGIN
    SELECT i.item_id, i.available, i.brand, i.category, i.tags, i.price, i.created_at, i.embedding IS NOT NULL AS has_embedding
      INTO item FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns AND i.item_id = wanted;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item "%" does not exist in namespace "%"', wanted, ns USING ERRCODE = '42704';
    END IF;
    WITH window_decisions AS (
        SELECT d.* FROM recsys.rec_decisions d
         WHERE d.org_id = org AND d.namespace = ns AND d.created_at >= from_ts),
    served AS (
        SELECT d.surface, (x ->> 'rank')::int AS rank, x -> 'rules' AS rules
          FROM window_decisions d, jsonb_array_elements(d.items) x
         WHERE d.item_ids @> ARRAY[wanted] AND x ->> 'item_id' = wanted)
    SELECT jsonb_build_object(
        'decisions', (SELECT count(*) FROM window_decisions),
        'candidate', (SELECT count(*) FROM window_decisions d WHERE d.candidates @> ARRAY[wanted]),
        'served', (SELECT count(*) FROM served),
        'mean_rank', (SELECT round(avg(s.rank), 2) FROM served s),
        'served_by_surface', (SELECT coalesce(jsonb_object_agg(s.surface, s.n), '{}')
                                FROM (SELECT s.surface, count(*) AS n FROM served s GROUP BY 1) s),
        'filters', (SELECT coalesce(jsonb_object_agg(f.stage, f.n), '{}')
                      FROM (SELECT d.dropped ->> wanted AS stage, count(*) AS n FROM window_decisions d
                             WHERE d.dropped ? wanted GROUP BY 1) f),
        'rules_in_served_lists', (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', r.rule_id, 'action', r.action,
                                                                               'override', r.priority = 2147483647,
                                                                               'served', r.n) ORDER BY r.rule_id), '[]')
                                    FROM (SELECT x ->> 'rule_id' AS rule_id, x ->> 'action' AS action,
                                                 (x ->> 'priority')::bigint AS priority, count(*) AS n
                                            FROM served s, jsonb_array_elements(coalesce(s.rules, '[]')) x
                                           GROUP BY 1, 2, 3) r))
      INTO facts
      FROM (SELECT 1) one;
    RETURN jsonb_build_object(
        'item', jsonb_build_object('item_id', item.item_id, 'available', item.available, 'brand', item.brand,
                                   'category', item.category, 'tags', to_jsonb(item.tags), 'price', item.price,
                                   'created_at', item.created_at, 'has_embedding', item.has_embedding),
        'since', from_ts,
        'signals', jsonb_build_object(
            'popularity', (SELECT round(p.score::numeric, 6) FROM recsys._popularity_of(org, ns, ARRAY[wanted], now()) p),
            'events', (SELECT coalesce(sum(p.events), 0) FROM recsys.item_popularity p
                        WHERE p.org_id = org AND p.namespace = ns AND p.item_id = wanted),
            'users', (SELECT count(*) FROM recsys.user_items u
                       WHERE u.org_id = org AND u.namespace = ns AND u.item_id = wanted),
            'co_visitation_neighbours', (SELECT count(*) FROM recsys.item_neighbours nb
                                          WHERE nb.org_id = org AND nb.namespace = ns AND nb.item_id = wanted)),
        'decisions', facts,
        'rules_now', (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', r.rule_id, 'action', r.action, 'boost', r.boost,
                                                                   'surface', r.surface, 'segment', r.segment,
                                                                   'priority', r.priority, 'valid_until', r.valid_until)
                                                ORDER BY r.priority DESC, r.rule_id), '[]')
                        FROM recsys.rules r
                       WHERE r.org_id = org AND r.namespace = ns AND r.enabled
                         AND (r.valid_from IS NULL OR r.valid_from <= now()) AND (r.valid_until IS NULL OR r.valid_until > now())
                         AND recsys._rule_matches(r.target, wanted, item.tags, item.brand, item.category)),
        'overrides', (SELECT coalesce(jsonb_agg(jsonb_build_object('override_id', m.override_id, 'action', m.action,
                                                                   'value', m.value, 'surface', m.surface,
                                                                   'expires_at', m.expires_at, 'created_by', m.created_by,
                                                                   'cancelled_at', m.cancelled_at)
                                                ORDER BY m.created_at, m.override_id), '[]')
                        FROM recsys.manual_overrides m
                       WHERE m.org_id = org AND m.namespace = ns AND m.item_id = wanted));
END
$$;
