-- Collaborative filtering: implicit ALS trained in the database (src/core/als.cpp). A model is
-- per namespace: item and user factors plus the item Gram matrix, so that a user who arrived
-- after training is folded in at request time from their items. Ranking uses the factors as a
-- candidate source and as the gamma signal (reason "collaborative").

CREATE TABLE recsys.factor_models (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    trained_at timestamptz NOT NULL,
    factors int NOT NULL,
    options jsonb NOT NULL,            -- every training option, defaults filled in
    users int NOT NULL,
    items int NOT NULL,
    interactions bigint NOT NULL,
    seconds float8 NOT NULL,
    losses float8[] NOT NULL,          -- the objective after each iteration
    gram float8[] NOT NULL,            -- item factors' Gram matrix, row-major
    PRIMARY KEY (org_id, namespace)
);
CREATE TABLE recsys.item_factors (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    item_id text COLLATE "C" NOT NULL,
    factors real[] NOT NULL,
    PRIMARY KEY (org_id, namespace, item_id)
);
CREATE TABLE recsys.user_factors (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    factors real[] NOT NULL,
    PRIMARY KEY (org_id, namespace, user_id)
);
SELECT recsys._isolate_tenants(ARRAY['factor_models', 'item_factors', 'user_factors']);

CREATE FUNCTION recsys._als_train(user_index int[], item_index int[], weights real[], users int, items int, factors int,
                                  regularization float8, alpha float8, iterations int, seed bigint, cg_steps int,
                                  org text, namespace text)
    RETURNS TABLE (side text, idx int, factors real[], losses float8[], gram float8[])
    AS 'MODULE_PATHNAME', 'recsys_als_train' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION recsys._als_fold_in(gram float8[], item_factors real[], weights real[], factors int,
                                    regularization float8, alpha float8) RETURNS real[]
    AS 'MODULE_PATHNAME', 'recsys_als_fold_in' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION recsys._training_progress(OUT pid int, OUT org_id text, OUT namespace text, OUT iteration int,
                                          OUT iterations int, OUT loss float8, OUT started_at timestamptz)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'recsys_training_progress' LANGUAGE C VOLATILE;

-- Trainings running now in the caller's organisation (from shared memory, so visible while the
-- training transaction is still open): backend pid, iteration done so far and its objective.
CREATE VIEW recsys.training_progress AS
SELECT p.pid, p.namespace, p.iteration, p.iterations, p.loss, p.started_at
  FROM recsys._training_progress() p
 WHERE p.org_id = recsys.current_org()::text;

-- Trains implicit ALS on the namespace's user-item interactions (user_items: the summed event
-- weights give the confidence 1 + alpha * weight) and replaces its factors. Options: factors
-- (64), regularization (0.05), alpha (10), iterations (15), seed (42), cg_steps (3). A NOTICE
-- per iteration and recsys.training_progress show progress; statement_timeout and
-- pg_cancel_backend stop it, and nothing is replaced then. Returns {users, items,
-- interactions, factors, iterations, losses, seconds}.
CREATE FUNCTION recsys.recsys_train_factors(namespace text, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := coalesce($2, '{}');
    settings jsonb;
    started timestamptz := clock_timestamp();
    n_users int;
    n_items int;
    n_interactions bigint;
    model record;
BEGIN
    PERFORM recsys._check_filter(o, ARRAY['factors', 'regularization', 'alpha', 'iterations', 'seed', 'cg_steps'], 'options');
    settings := jsonb_build_object(
        'factors', recsys._option_int(o, 'factors', 1, 1024, 64),
        'regularization', recsys._option_number(o, 'regularization', 0, 1000000, 0.05),
        'alpha', recsys._option_number(o, 'alpha', 0.000001, 1000000, 10),
        'iterations', recsys._option_int(o, 'iterations', 1, 100, 15),
        'seed', recsys._option_int(o, 'seed', 0, 2147483647, 42),
        'cg_steps', recsys._option_int(o, 'cg_steps', 1, 100, 3));
    PERFORM recsys._require_namespace(org, ns);
    -- One training per namespace at a time; ingestion goes on meanwhile.
    PERFORM pg_advisory_xact_lock(hashtextextended('recsys.train/' || org::text || '/' || ns, 0));

    CREATE TEMP TABLE IF NOT EXISTS recsys_train_users (user_id text COLLATE "C", idx int) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS recsys_train_items (item_id text COLLATE "C", idx int) ON COMMIT DROP;
    TRUNCATE recsys_train_users, recsys_train_items;
    INSERT INTO recsys_train_users
    SELECT u.user_id, (row_number() OVER (ORDER BY u.user_id) - 1)::int
      FROM (SELECT DISTINCT ui.user_id FROM recsys.user_items ui WHERE ui.org_id = org AND ui.namespace = ns) u;
    INSERT INTO recsys_train_items
    SELECT i.item_id, (row_number() OVER (ORDER BY i.item_id) - 1)::int
      FROM (SELECT DISTINCT ui.item_id FROM recsys.user_items ui WHERE ui.org_id = org AND ui.namespace = ns) i;
    SELECT (SELECT count(*) FROM recsys_train_users), (SELECT count(*) FROM recsys_train_items) INTO n_users, n_items;
    IF n_users = 0 THEN
        RAISE EXCEPTION 'namespace "%" has no interactions to train on', ns USING ERRCODE = '55000';
    END IF;

    CREATE TEMP TABLE recsys_train_model ON COMMIT DROP AS
    SELECT m.* FROM (
        SELECT array_agg(u.idx) AS us, array_agg(i.idx) AS its, array_agg(ui.weight::real) AS ws, count(*) AS n
          FROM recsys.user_items ui
          JOIN recsys_train_users u ON u.user_id = ui.user_id
          JOIN recsys_train_items i ON i.item_id = ui.item_id
         WHERE ui.org_id = org AND ui.namespace = ns) x,
        LATERAL recsys._als_train(x.us, x.its, x.ws, n_users, n_items, (settings ->> 'factors')::int,
                                  (settings ->> 'regularization')::float8, (settings ->> 'alpha')::float8,
                                  (settings ->> 'iterations')::int, (settings ->> 'seed')::bigint,
                                  (settings ->> 'cg_steps')::int, org::text, ns) m;
    SELECT count(*) INTO n_interactions FROM recsys.user_items ui WHERE ui.org_id = org AND ui.namespace = ns;
    SELECT * INTO model FROM recsys_train_model m WHERE m.side = 'model';

    DELETE FROM recsys.item_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns;
    INSERT INTO recsys.item_factors (org_id, namespace, item_id, factors)
    SELECT org, ns, i.item_id, m.factors FROM recsys_train_model m JOIN recsys_train_items i ON i.idx = m.idx
     WHERE m.side = 'item';
    INSERT INTO recsys.user_factors (org_id, namespace, user_id, factors)
    SELECT org, ns, u.user_id, m.factors FROM recsys_train_model m JOIN recsys_train_users u ON u.idx = m.idx
     WHERE m.side = 'user';
    INSERT INTO recsys.factor_models AS f (org_id, namespace, trained_at, factors, options, users, items, interactions,
                                           seconds, losses, gram)
    VALUES (org, ns, clock_timestamp(), (settings ->> 'factors')::int, settings, n_users, n_items, n_interactions,
            extract(epoch FROM clock_timestamp() - started), model.losses, model.gram)
    ON CONFLICT (org_id, namespace) DO UPDATE
       SET trained_at = excluded.trained_at, factors = excluded.factors, options = excluded.options,
           users = excluded.users, items = excluded.items, interactions = excluded.interactions,
           seconds = excluded.seconds, losses = excluded.losses, gram = excluded.gram;
    DROP TABLE recsys_train_model;  -- after the last use of `model`, whose arrays point into it
    RETURN jsonb_build_object('users', n_users, 'items', n_items, 'interactions', n_interactions,
                              'factors', (settings ->> 'factors')::int, 'iterations', (settings ->> 'iterations')::int,
                              'losses', to_jsonb(model.losses),
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3));
END
$$;

-- The factors of `uid` in org's namespace: trained ones, or folded in from their 50 most recent
-- items when the model has not seen them; NULL without a model or usable history. Planned once
-- per session (generic plan; see "Plans on the serving path" in docs/architecture.md).
CREATE FUNCTION recsys._user_factors(org uuid, ns text, uid text) RETURNS real[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN (WITH recent AS (
        SELECT row_number() OVER (ORDER BY ui.last_ts DESC, ui.item_id) AS rn, ui.weight::real AS weight, f.factors
          FROM recsys.user_items ui
          JOIN recsys.item_factors f ON f.org_id = ui.org_id AND f.namespace = ui.namespace AND f.item_id = ui.item_id
         WHERE ui.org_id = org AND ui.namespace = ns AND ui.user_id = uid
         ORDER BY ui.last_ts DESC, ui.item_id
         LIMIT 50)
    SELECT coalesce(
        (SELECT f.factors FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns AND f.user_id = uid),
        (SELECT recsys._als_fold_in(m.gram,
                                    (SELECT array_agg(x.v ORDER BY r.rn, x.d) FROM recent r,
                                            unnest(r.factors) WITH ORDINALITY AS x(v, d)),
                                    (SELECT array_agg(r.weight ORDER BY r.rn) FROM recent r),
                                    m.factors, (m.options ->> 'regularization')::float8, (m.options ->> 'alpha')::float8)
           FROM recsys.factor_models m WHERE m.org_id = org AND m.namespace = ns)));
END
$$;
