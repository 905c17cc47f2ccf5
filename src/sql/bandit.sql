-- Contextual multi-armed bandits choosing ranking policies (named knob bundles).
-- Statistics live per (surface, context bucket, policy); a decision counts as a trial when it is
-- made, and its reward is added when (if) it arrives. Holdout decisions (a control share per
-- surface, served the best policy so far) are kept out of the statistics so lift can be measured.

CREATE TABLE recsys.bandit_policies (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    policy_id text COLLATE "C" NOT NULL CHECK (length(policy_id) BETWEEN 1 AND 256),
    name text,
    active boolean NOT NULL DEFAULT true,
    settings jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, policy_id)
);

CREATE TABLE recsys.bandit_surfaces (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    surface text COLLATE "C" NOT NULL,
    holdout_share float8 NOT NULL CHECK (holdout_share BETWEEN 0 AND 1),
    PRIMARY KEY (org_id, namespace, surface)
);

CREATE TABLE recsys.bandit_stats (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    surface text COLLATE "C" NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    policy_id text COLLATE "C" NOT NULL,
    trials bigint NOT NULL DEFAULT 0,
    reward_sum float8 NOT NULL DEFAULT 0,
    reward_sq_sum float8 NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, namespace, surface, bucket, policy_id)
) WITH (fillfactor = 80);

CREATE TABLE recsys.bandit_decisions (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    decision_id uuid NOT NULL DEFAULT gen_random_uuid(),
    surface text COLLATE "C" NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    policy_id text COLLATE "C" NOT NULL,
    algorithm text NOT NULL,
    explore boolean NOT NULL,
    holdout boolean NOT NULL,
    context jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    reward float8 CHECK (reward BETWEEN 0 AND 1),
    rewarded_at timestamptz,
    PRIMARY KEY (org_id, namespace, decision_id)
);

SELECT recsys._isolate_tenants(ARRAY['bandit_policies', 'bandit_surfaces', 'bandit_stats', 'bandit_decisions']);

CREATE FUNCTION recsys._bandit_choose(algorithm text, trials float8[], reward_sums float8[], reward_sq_sums float8[],
                                      epsilon float8, OUT arm int, OUT explore boolean, OUT best int, OUT u float8)
    AS 'MODULE_PATHNAME', 'recsys_bandit_choose' LANGUAGE C VOLATILE STRICT;

-- The context bucket: key=value pairs sorted by key and joined by "&" ("all" for {}); beyond
-- 128 characters the md5 of the pairs stands in ("md5:..."), so buckets stay bounded.
CREATE FUNCTION recsys._context_bucket(context jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    pairs text;
BEGIN
    IF context IS NULL OR jsonb_typeof(context) <> 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object, not %', coalesce(jsonb_typeof(context), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(k || '=' || CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' ELSE v::text END, '&' ORDER BY k COLLATE "C")
      INTO pairs FROM jsonb_each(context) AS c(k, v);
    IF pairs IS NULL THEN
        RETURN 'all';
    END IF;
    RETURN CASE WHEN length(pairs) <= 128 THEN pairs ELSE 'md5:' || md5(pairs) END;
END
$$;

-- The first problem of one policy element.
CREATE FUNCTION recsys._policy_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['policy_id', 'name', 'active', 'settings']),
        recsys._id_problem(e, 'policy_id'),
        recsys._string_problem(e, 'name', 256),
        recsys._typed_problem(e, 'active', 'boolean'),
        CASE WHEN NOT e ? 'settings' THEN ARRAY['settings', '22023', 'is required'] END,
        recsys._typed_problem(e, 'settings', 'object'))
END;

-- Upserts policies [{policy_id, name?, active?, settings: {knob: value}}]; settings are
-- validated like recsys_configure and replace the stored ones. Returns {"inserted": n, "updated": n}.
CREATE FUNCTION recsys.recsys_upsert_policies(namespace text, policies jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    e jsonb;
    inserted bigint;
    total bigint;
BEGIN
    PERFORM recsys._check_payload(payload, 'policies', 'policy', 'recsys._policy_problem(e)', 'policy_id');
    FOR e IN SELECT value FROM jsonb_array_elements(payload) LOOP
        PERFORM recsys._check_settings(e -> 'settings', format('policy "%s"', e ->> 'policy_id'));
    END LOOP;
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    WITH upserted AS (
        INSERT INTO recsys.bandit_policies AS p (org_id, namespace, policy_id, name, active, settings)
        SELECT org, ns, e ->> 'policy_id', e ->> 'name', coalesce((e -> 'active')::boolean, true),
               jsonb_strip_nulls(e -> 'settings')
          FROM jsonb_array_elements(payload) e
        ON CONFLICT (org_id, namespace, policy_id) DO UPDATE
           SET name = coalesce(excluded.name, p.name), active = excluded.active, settings = excluded.settings,
               updated_at = now()
        RETURNING (xmax = 0) AS fresh)
    SELECT count(*) FILTER (WHERE fresh), count(*) INTO inserted, total FROM upserted;
    RETURN jsonb_build_object('inserted', inserted, 'updated', total - inserted);
END
$$;

-- Sets the holdout share of a surface: that share of decisions is served the best policy so
-- far, without exploring, and kept out of the statistics (see recsys.bandit_lift).
CREATE FUNCTION recsys.recsys_bandit_holdout(namespace text, surface text, share float8) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    PERFORM recsys._check_surface($2);
    IF $3 IS NULL OR NOT $3 BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'holdout share must be between 0 and 1, not %', coalesce($3::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    INSERT INTO recsys.bandit_surfaces AS s (org_id, namespace, surface, holdout_share) VALUES (org, ns, $2, $3)
    ON CONFLICT (org_id, namespace, surface) DO UPDATE SET holdout_share = excluded.holdout_share;
    RETURN jsonb_build_object('surface', $2, 'holdout_share', $3);
END
$$;

-- The decision of recsys_bandit_decide for org's namespace, with the chosen policy's settings.
-- One statement reads the candidate policies with their statistics in the context bucket and
-- the surface's holdout share, lets the algorithm choose, and records the decision and (outside
-- the holdout) its trial; the checks after it only raise, which undoes the statement.
CREATE FUNCTION recsys._bandit_decide(org uuid, ns text, surf text, ctx jsonb, wanted text[], algo text,
                                      OUT decision jsonb, OUT settings jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    ctx_bucket text;
    ids text[];
BEGIN
    PERFORM recsys._check_surface(surf);
    IF algo NOT IN ('thompson', 'ucb1', 'epsilon_greedy') THEN
        RAISE EXCEPTION 'unknown bandit algorithm "%"', algo USING ERRCODE = '22023', HINT = 'Use thompson, ucb1 or epsilon_greedy.';
    END IF;
    IF current_setting('transaction_read_only') = 'on' THEN
        RAISE EXCEPTION 'a bandit decision is recorded and needs a read-write transaction' USING ERRCODE = '25006';
    END IF;
    ctx_bucket := CASE WHEN ctx = '{}' THEN 'all' ELSE recsys._context_bucket(ctx) END;
    WITH arms AS (
        SELECT array_agg(p.policy_id ORDER BY p.policy_id) AS ids, array_agg(p.settings ORDER BY p.policy_id) AS settings,
               array_agg(coalesce(st.trials, 0)::float8 ORDER BY p.policy_id) AS trials,
               array_agg(coalesce(st.reward_sum, 0) ORDER BY p.policy_id) AS rewards,
               array_agg(coalesce(st.reward_sq_sum, 0) ORDER BY p.policy_id) AS squares,
               (SELECT sf.holdout_share FROM recsys.bandit_surfaces sf
                 WHERE sf.org_id = org AND sf.namespace = ns AND sf.surface = surf) AS share
          FROM recsys.bandit_policies p
          LEFT JOIN recsys.bandit_stats st ON st.org_id = p.org_id AND st.namespace = p.namespace AND st.surface = surf
                                          AND st.bucket = ctx_bucket AND st.policy_id = p.policy_id
         WHERE p.org_id = org AND p.namespace = ns AND p.active AND (wanted IS NULL OR p.policy_id = ANY (wanted))),
    choice AS (
        SELECT a.ids, a.ids[CASE WHEN c.u < coalesce(a.share, 0) THEN c.best ELSE c.arm END] AS policy_id,
               a.settings[CASE WHEN c.u < coalesce(a.share, 0) THEN c.best ELSE c.arm END] AS settings,
               c.u < coalesce(a.share, 0) AS holdout, c.explore AND NOT c.u < coalesce(a.share, 0) AS explore
          FROM arms a,
               recsys._bandit_choose(algo, a.trials, a.rewards, a.squares,
                   CASE WHEN algo = 'epsilon_greedy' THEN
                       (SELECT coalesce(st.settings -> 'bandit_epsilon', k.default_value)::text::float8
                          FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st WHERE k.name = 'bandit_epsilon')
                   ELSE 0 END) c
         WHERE a.ids IS NOT NULL),
    made AS (
        INSERT INTO recsys.bandit_decisions (org_id, namespace, surface, bucket, policy_id, algorithm, explore, holdout, context)
        SELECT org, ns, surf, ctx_bucket, c.policy_id, algo, c.explore, c.holdout, ctx FROM choice c
        RETURNING bandit_decisions.decision_id),
    counted AS (
        INSERT INTO recsys.bandit_stats AS s (org_id, namespace, surface, bucket, policy_id, trials)
        SELECT org, ns, surf, ctx_bucket, c.policy_id, 1 FROM choice c WHERE NOT c.holdout
        ON CONFLICT (org_id, namespace, surface, bucket, policy_id) DO UPDATE SET trials = s.trials + 1)
    SELECT (SELECT a.ids FROM arms a),
           (SELECT jsonb_build_object('decision_id', m.decision_id, 'policy_id', c.policy_id, 'bucket', ctx_bucket,
                                      'explore', c.explore, 'algorithm', algo, 'holdout', c.holdout)
              FROM choice c, made m),
           (SELECT c.settings FROM choice c)
      INTO ids, decision, settings;
    IF ids IS NULL THEN
        RAISE EXCEPTION 'no active policy to choose from in namespace "%"', ns
            USING ERRCODE = '42704', HINT = 'Create policies with recsys_upsert_policies, or name active ones in policy_ids.';
    END IF;
    IF wanted IS NOT NULL AND cardinality(ids) < (SELECT count(DISTINCT w) FROM unnest(wanted) w) THEN
        RAISE EXCEPTION 'policy "%" does not exist or is not active',
            (SELECT w FROM unnest(wanted) w WHERE w <> ALL (ids) ORDER BY w LIMIT 1) USING ERRCODE = '42704';
    END IF;
END
$$;

-- Chooses a policy for (surface, context bucket) among policy_ids (default: every active policy)
-- with thompson, ucb1 (UCB1-Tuned bound) or epsilon_greedy (knob bandit_epsilon), records the
-- decision and counts it as a trial. Returns {decision_id, policy_id, bucket, explore,
-- algorithm, holdout}.
CREATE FUNCTION recsys.recsys_bandit_decide(namespace text, surface text, context jsonb DEFAULT '{}',
                                            policy_ids text[] DEFAULT NULL, algorithm text DEFAULT 'thompson')
    RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (recsys._bandit_decide(recsys.current_org(), recsys._check_namespace($1), $2, coalesce($3, '{}'), $4,
                                  coalesce($5, 'thompson'))).decision;
END
$$;

-- Credits a reward in [0, 1] to exactly the decision that was made. A repeated reward with the
-- same value is accepted and changes nothing (retries are safe); a different value is refused.
-- Returns {decision_id, policy_id, reward, credited}.
CREATE FUNCTION recsys.recsys_bandit_reward(namespace text, decision_id text, reward float8) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    id uuid;
    d record;
BEGIN
    IF $3 IS NULL OR $3 <> $3 OR NOT $3 BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'reward must be between 0 and 1, not %', coalesce($3::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    id := recsys._try_uuid($2);
    IF id IS NULL THEN
        RAISE EXCEPTION 'decision_id % is not a UUID', coalesce(quote_literal($2), 'NULL') USING ERRCODE = '22P02';
    END IF;
    SELECT * INTO d FROM recsys.bandit_decisions x
     WHERE x.org_id = org AND x.namespace = ns AND x.decision_id = id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision "%" does not exist in namespace "%"', $2, ns USING ERRCODE = '42704';
    END IF;
    IF d.reward IS NOT NULL THEN
        IF d.reward = $3 THEN
            RETURN jsonb_build_object('decision_id', id, 'policy_id', d.policy_id, 'reward', d.reward, 'credited', false);
        END IF;
        RAISE EXCEPTION 'decision "%" was already rewarded with %', $2, d.reward
            USING ERRCODE = '55000', DETAIL = 'A decision takes one reward; a repeat with the same value is accepted and ignored.';
    END IF;
    UPDATE recsys.bandit_decisions x SET reward = $3, rewarded_at = now()
     WHERE x.org_id = org AND x.namespace = ns AND x.decision_id = id;
    IF NOT d.holdout THEN
        UPDATE recsys.bandit_stats s SET reward_sum = s.reward_sum + $3, reward_sq_sum = s.reward_sq_sum + $3 * $3
         WHERE s.org_id = org AND s.namespace = ns AND s.surface = d.surface AND s.bucket = d.bucket
           AND s.policy_id = d.policy_id;
    END IF;
    RETURN jsonb_build_object('decision_id', id, 'policy_id', d.policy_id, 'reward', $3, 'credited', true);
END
$$;

-- The pure selection primitive over given arm statistics [{arm_id, trials, reward_sum,
-- reward_sq_sum?}]: one row per arm, chosen marks the pick. Options: epsilon (0.1).
CREATE FUNCTION recsys.recsys_bandit_select(arms jsonb, algorithm text DEFAULT 'thompson', options jsonb DEFAULT '{}')
    RETURNS TABLE (arm_id text, chosen boolean, explore boolean, mean float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    payload jsonb := $1;
    algo text := coalesce($2, 'thompson');
    choice record;
BEGIN
    PERFORM recsys._check_payload(payload, 'arms', 'arm', 'recsys._arm_problem(e)', 'arm_id');
    PERFORM recsys._check_filter(coalesce($3, 'null'), ARRAY['epsilon'], 'options');
    IF jsonb_array_length(payload) = 0 THEN
        RAISE EXCEPTION 'arms must not be empty' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO choice FROM recsys._bandit_choose(algo,
        ARRAY(SELECT (e ->> 'trials')::float8 FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i) ORDER BY i),
        ARRAY(SELECT (e ->> 'reward_sum')::float8 FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i) ORDER BY i),
        ARRAY(SELECT coalesce((e ->> 'reward_sq_sum')::float8, (e ->> 'reward_sum')::float8)
                FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i) ORDER BY i),
        recsys._option_number($3, 'epsilon', 0, 1, 0.1));
    RETURN QUERY
    SELECT e ->> 'arm_id', i = choice.arm, i = choice.arm AND choice.explore,
           CASE WHEN (e ->> 'trials')::float8 > 0 THEN (e ->> 'reward_sum')::float8 / (e ->> 'trials')::float8 ELSE 0 END
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
     ORDER BY i;
END
$$;

-- The first problem of one arm of recsys_bandit_select.
CREATE FUNCTION recsys._arm_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['arm_id', 'trials', 'reward_sum', 'reward_sq_sum']),
        recsys._id_problem(e, 'arm_id'),
        CASE WHEN NOT e ? 'trials' THEN ARRAY['trials', '22023', 'is required'] END,
        recsys._number_problem(e, 'trials', 0),
        CASE WHEN NOT e ? 'reward_sum' THEN ARRAY['reward_sum', '22023', 'is required'] END,
        recsys._number_problem(e, 'reward_sum', 0),
        CASE WHEN (e ->> 'reward_sum')::numeric > (e ->> 'trials')::numeric
             THEN ARRAY['reward_sum', '22023', 'must not exceed trials'] END,
        recsys._number_problem(e, 'reward_sq_sum', 0))
END;

-- Decides a policy (among policy_ids, default all active, with `algorithm`), then ranks with its
-- knobs. Precedence of knobs: default < namespace < segment profile < bandit policy < request
-- options, so a segment never overwrites the policy. The ranking is logged to rec_decisions with
-- the bandit decision as its bandit block. Returns {decision: {...}, items: [...],
-- audit_decision_id, segment}, and with trace also config: {knob: {value, source}}, which shows
-- where each effective knob came from.
CREATE FUNCTION recsys.recsys_bandit_recommend(namespace text, user_id text, k int, surface text,
                                               context jsonb DEFAULT '{}', options jsonb DEFAULT '{}',
                                               policy_ids text[] DEFAULT NULL, algorithm text DEFAULT 'thompson',
                                               trace boolean DEFAULT false)
    RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    opts jsonb := coalesce($6, '{}');
    decision jsonb;
    policy jsonb;
    segment text;
    served jsonb;
BEGIN
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object, not %', jsonb_typeof(opts) USING ERRCODE = '22023';
    END IF;
    SELECT d.decision, d.settings INTO decision, policy
      FROM recsys._bandit_decide(org, ns, $4, coalesce($5, '{}'), $7, coalesce($8, 'thompson')) d;
    PERFORM recsys._check_request(org, ns, $2, $3, $4);
    served := recsys._serve(org, ns, 'bandit_recommend', $2, $3, $4, opts, NULL, decision, gen_random_uuid(), policy);
    -- The segment the ranking matched (no second lookup) and its profile.
    segment := served -> 'trace' ->> 'segment';
    RETURN jsonb_build_object(
        'decision', decision,
        'items', CASE WHEN jsonb_path_exists(served -> 'items', '$[*].explain')
                      THEN (SELECT coalesce(jsonb_agg(i - 'explain' ORDER BY (i ->> 'rank')::int), '[]')
                              FROM jsonb_array_elements(served -> 'items') i)
                      ELSE served -> 'items' END,
        'audit_decision_id', served -> 'decision_id',
        'segment', segment)
        || CASE WHEN coalesce($9, false) THEN jsonb_build_object(
               'config', recsys._config_sources(org, ns, opts, (SELECT sg.profile FROM recsys.segments sg
                                                                  WHERE sg.org_id = org AND sg.namespace = ns
                                                                    AND sg.segment_id = segment), policy))
           ELSE '{}' END;
END
$$;

-- Mean reward of bandit-chosen and holdout decisions per surface, and the lift of the former.
CREATE VIEW recsys.bandit_lift WITH (security_invoker = true) AS
SELECT org_id, namespace, surface,
       count(*) FILTER (WHERE NOT holdout) AS bandit_decisions,
       avg(coalesce(reward, 0)) FILTER (WHERE NOT holdout) AS bandit_mean_reward,
       count(*) FILTER (WHERE holdout) AS holdout_decisions,
       avg(coalesce(reward, 0)) FILTER (WHERE holdout) AS holdout_mean_reward,
       avg(coalesce(reward, 0)) FILTER (WHERE NOT holdout) / nullif(avg(coalesce(reward, 0)) FILTER (WHERE holdout), 0) - 1 AS lift
  FROM recsys.bandit_decisions
 GROUP BY org_id, namespace, surface;
