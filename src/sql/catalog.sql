-- The serving catalogue: each backend keeps a copy of a namespace's items, embeddings and ALS
-- item factors in memory (src/pg/catalog_cache.cpp), refreshed at every call from the rows
-- changed since (items.changed_xid, namespaces.catalog_epoch), and an optional IVF index over
-- the embeddings whose centroids are stored here.

-- A namespace's embedding index: `lists` centroids (lists x dim, row-major, unit length) from
-- spherical k-means; a search scans the `probes` lists nearest to the query.
CREATE TABLE recsys.embedding_indexes (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    lists int NOT NULL CHECK (lists >= 1),
    probes int NOT NULL CHECK (probes BETWEEN 1 AND lists),
    centroids real[] NOT NULL,
    sample int NOT NULL,
    iterations int NOT NULL,
    seed bigint NOT NULL,
    built_at timestamptz NOT NULL,  -- also the version serving backends compare
    seconds float8 NOT NULL,
    PRIMARY KEY (org_id, namespace),
    FOREIGN KEY (org_id, namespace) REFERENCES recsys.namespaces ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
SELECT recsys._isolate_tenants(ARRAY['embedding_indexes']);

CREATE FUNCTION recsys._embedding_centroids(org uuid, ns text, lists int, sample int, iterations int, seed bigint)
    RETURNS real[]
    AS 'MODULE_PATHNAME', 'recsys_embedding_centroids' LANGUAGE C STRICT VOLATILE;

-- Until the transaction ends, this backend's catalogue of the namespace counts its co-visitation
-- from its events instead of reading recsys.covis: for recsys_evaluate's scratch namespace, which
-- only this transaction can see and which is dropped before it ends, so its pairs need no storing.
CREATE FUNCTION recsys._catalog_covis_from_events(org uuid, ns text) RETURNS void
    AS 'MODULE_PATHNAME', 'recsys_catalog_covis_from_events' LANGUAGE C STRICT VOLATILE;

-- An item's tags from the cached catalogue; NULL when the namespace has no such item.
CREATE FUNCTION recsys._catalog_item_tags(org uuid, ns text, item_id text) RETURNS text[]
    AS 'MODULE_PATHNAME', 'recsys_catalog_item_tags' LANGUAGE C STABLE;

-- Builds (or rebuilds) the namespace's IVF embedding index; options: lists (default: the square
-- root of the number of embeddings), probes (default: lists / 16, at least 4), sample (items
-- the k-means runs on, default 20000), iterations (default 10), seed (default 42). Returns what
-- was built. Serving backends pick the new index up at their next call.
CREATE FUNCTION recsys.recsys_build_embedding_index(namespace text, options jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := coalesce($2, '{}');
    embeddings bigint;
    lists int;
    probes int;
    sample int;
    iterations int;
    seed bigint;
    started timestamptz := clock_timestamp();
    centroids real[];
BEGIN
    PERFORM recsys._check_filter(o, ARRAY['lists', 'probes', 'sample', 'iterations', 'seed'], 'options');
    PERFORM recsys._require_namespace(org, ns);
    SELECT count(*) INTO embeddings FROM recsys.items i
     WHERE i.org_id = org AND i.namespace = ns AND i.embedding IS NOT NULL;
    IF embeddings = 0 THEN
        RAISE EXCEPTION 'namespace "%" has no item embeddings to index', ns USING ERRCODE = '22023';
    END IF;
    sample := recsys._option_int(o, 'sample', 1, 1000000, 20000);
    lists := recsys._option_int(o, 'lists', 1, least(embeddings, sample, 65536)::int,
                                greatest(1, round(sqrt(embeddings)))::int);
    probes := recsys._option_int(o, 'probes', 1, lists, least(lists, greatest(4, lists / 16)));
    iterations := recsys._option_int(o, 'iterations', 1, 100, 10);
    seed := recsys._option_int(o, 'seed', 0, 2147483647, 42);
    centroids := recsys._embedding_centroids(org, ns, lists, sample, iterations, seed);
    INSERT INTO recsys.embedding_indexes AS x (org_id, namespace, lists, probes, centroids, sample, iterations, seed,
                                              built_at, seconds)
    VALUES (org, ns, lists, probes, centroids, least(sample, embeddings), iterations, seed, clock_timestamp(),
            extract(epoch FROM clock_timestamp() - started))
    ON CONFLICT (org_id, namespace) DO UPDATE
       SET lists = excluded.lists, probes = excluded.probes, centroids = excluded.centroids,
           sample = excluded.sample, iterations = excluded.iterations, seed = excluded.seed,
           built_at = excluded.built_at, seconds = excluded.seconds;
    RETURN jsonb_build_object('embeddings', embeddings, 'lists', lists, 'probes', probes,
                              'sample', least(sample, embeddings), 'iterations', iterations, 'seed', seed,
                              'seconds', round(extract(epoch FROM clock_timestamp() - started)::numeric, 3));
END
$$;

-- Drops the namespace's embedding index (searches become exact); false when there was none.
CREATE FUNCTION recsys.recsys_drop_embedding_index(namespace text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM recsys.embedding_indexes x
     WHERE x.org_id = recsys.current_org() AND x.namespace = recsys._check_namespace($1);
    RETURN FOUND;
END
$$;
