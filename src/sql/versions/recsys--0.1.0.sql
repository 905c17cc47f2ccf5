-- recsys extension script, assembled from src/sql/ (see src/sql/files.txt).
\echo Use "CREATE EXTENSION recsys" to load this file. \quit

-- Roles (cluster-wide, so created only when missing and left in place by DROP EXTENSION):
--   recsys_reader        serving functions and read access to the catalogue of its org
--   recsys_writer        reader + ingestion (JSON functions, INSERT/COPY into base tables)
--   recsys_admin         writer + namespace maintenance, role mapping, SET recsys.org_id
--   recsys_auditor       read access to the audit trail of its org
--   recsys_monitor       the metrics of every org (recsys.metrics), for the metrics exporter
--   recsys_authenticator the login role of PostgREST is granted this; only sessions started by
--                        such a role have their request.jwt.claims trusted
DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['recsys_reader', 'recsys_writer', 'recsys_admin',
                                     'recsys_auditor', 'recsys_monitor', 'recsys_authenticator'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        END IF;
    END LOOP;
END
$roles$;

GRANT recsys_reader TO recsys_writer;
GRANT recsys_writer TO recsys_admin;
GRANT recsys_auditor TO recsys_admin;
GRANT USAGE ON SCHEMA recsys TO recsys_reader, recsys_auditor, recsys_monitor;
-- Tenancy: every row carries (org_id, namespace); the org always comes from the caller.

-- The role that called in, ignoring SECURITY DEFINER (the session's role after SET ROLE).
CREATE FUNCTION recsys.caller_role() RETURNS oid
    AS 'MODULE_PATHNAME', 'recsys_caller_role' LANGUAGE C STABLE PARALLEL SAFE;

-- SQL login roles mapped to an organisation.
CREATE TABLE recsys.role_orgs (
    role_name name PRIMARY KEY,
    org_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The caller's organisation: recsys.org_id for recsys_admin members, else the JWT claim org_id
-- (trusted only in sessions whose login role is a member of recsys_authenticator), else the
-- role mapping. Raises 42501 when none applies.
CREATE FUNCTION recsys.current_org() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller oid := recsys.caller_role();
    chosen text := current_setting('recsys.org_id', true);
    claims text := current_setting('request.jwt.claims', true);
    claim text;
    org uuid;
BEGIN
    IF coalesce(chosen, '') <> '' THEN
        IF NOT pg_has_role(caller, 'recsys_admin', 'MEMBER') THEN
            RAISE EXCEPTION 'permission denied to use recsys.org_id'
                USING ERRCODE = '42501',
                      DETAIL = format('Role %s is not a member of recsys_admin.', caller::regrole),
                      HINT = 'Other roles get their organisation from their JWT claim or from recsys_map_role.';
        END IF;
        RETURN chosen::uuid;
    END IF;
    IF coalesce(claims, '') <> '' AND pg_has_role(session_user, 'recsys_authenticator', 'MEMBER') THEN
        IF claims !~ '^\s*\{' OR NOT claims::jsonb ? 'org_id' THEN
            RAISE EXCEPTION 'the JWT carries no org_id claim' USING ERRCODE = '42501';
        END IF;
        claim := claims::jsonb ->> 'org_id';
        IF claim IS NULL OR claim !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'the JWT claim org_id is not a UUID' USING ERRCODE = '42501';
        END IF;
        RETURN claim::uuid;
    END IF;
    SELECT r.org_id INTO org FROM recsys.role_orgs r JOIN pg_roles p ON p.rolname = r.role_name
     WHERE p.oid = caller;
    IF org IS NULL THEN
        RAISE EXCEPTION 'role % is not mapped to an organisation', caller::regrole
            USING ERRCODE = '42501',
                  HINT = 'A recsys_admin maps SQL roles with recsys_map_role(role, org_id); PostgREST requests carry the org_id claim in their JWT.';
    END IF;
    RETURN org;
END
$$;

-- Maps an SQL login role to an organisation (recsys_admin only).
CREATE FUNCTION recsys.recsys_map_role(role regrole, org_id uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO recsys.role_orgs (role_name, org_id) SELECT rolname, $2 FROM pg_roles WHERE oid = $1
    ON CONFLICT (role_name) DO UPDATE SET org_id = excluded.org_id, created_at = now();
$$;

-- Removes a role's organisation mapping (recsys_admin only).
CREATE FUNCTION recsys.recsys_unmap_role(role regrole) RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (DELETE FROM recsys.role_orgs WHERE role_name = (SELECT rolname FROM pg_roles WHERE oid = $1) RETURNING 1)
    SELECT count(*) > 0 FROM gone;
$$;

-- Row-level security on the given tables of schema recsys: a caller sees and changes only the
-- rows of its own organisation (policy tenant_isolation). Used by every file that creates
-- tenant tables.
CREATE FUNCTION recsys._isolate_tenants(tables text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY tables LOOP
        EXECUTE format('ALTER TABLE recsys.%I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format('CREATE POLICY tenant_isolation ON recsys.%I
                            USING (org_id = (SELECT recsys.current_org()))
                            WITH CHECK (org_id = (SELECT recsys.current_org()))', table_name);
    END LOOP;
END
$$;
-- Helpers shared by the extension's SQL.

-- Namespace names: 1 to 64 characters from [A-Za-z0-9_.-].
CREATE DOMAIN recsys.namespace_name AS text COLLATE "C"
    CHECK (VALUE ~ '^[A-Za-z0-9_.-]{1,64}$');

-- Raises 22023 unless `namespace` is a valid namespace name; returns it.
CREATE FUNCTION recsys._check_namespace(namespace text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF namespace IS NULL OR namespace !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid namespace name %', coalesce(quote_literal(namespace), 'NULL')
            USING ERRCODE = '22023',
                  DETAIL = 'A namespace name has 1 to 64 characters from A-Z, a-z, 0-9, "_", "." and "-".';
    END IF;
    RETURN namespace;
END
$$;

-- Raises 42704 unless org's namespace exists.
CREATE FUNCTION recsys._require_namespace(org uuid, ns text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" does not exist', ns USING ERRCODE = '42704';
    END IF;
END
$$;

-- Raises 22023 unless `surface` is a valid surface name (1 to 64 characters from
-- [A-Za-z0-9_.:-]); returns it.
CREATE FUNCTION recsys._check_surface(surface text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF surface IS NULL OR surface !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid surface %', coalesce(quote_literal(surface), 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN surface;
END
$$;

-- Parses text as a UUID, or NULL when it is not one (never raises).
CREATE FUNCTION recsys._try_uuid(text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE WHEN $1 ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN $1::uuid END;

-- Parses text as a concrete timestamptz, or NULL when it is not one (never raises).
CREATE FUNCTION recsys._try_timestamptz(text) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'recsys_try_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- log2(2^a + 2^b); the transition function of recsys.log2_sum.
CREATE FUNCTION recsys._log2_add(float8, float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'recsys_log2_add' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- log2 contribution of one event: log2(weight) + days / half_life_days.
CREATE FUNCTION recsys._log2_event(weight float8, days float8, half_life_days float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'recsys_log2_event' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- log2 of a sum of powers of two: log2(sum 2^x), overflow-free.
CREATE AGGREGATE recsys.log2_sum(float8) (
    SFUNC = recsys._log2_add, STYPE = float8, COMBINEFUNC = recsys._log2_add, PARALLEL = SAFE
);

-- Days from the decay epoch (2000-01-01 UTC) to ts: decayed scores are stored relative to it.
CREATE FUNCTION recsys._decay_days(ts timestamptz) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN extract(epoch FROM ts) / 86400.0 - 10957.0;

-- Throws a C++ exception of the given kind inside the core, to prove the error boundary.
CREATE FUNCTION recsys._boundary_probe(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'recsys_boundary_probe' LANGUAGE C STRICT;

-- True when a text array has no NULL and no repeated element.
CREATE FUNCTION recsys._is_text_set(elements text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_position(elements, NULL) IS NULL
   AND cardinality(elements) = (SELECT count(DISTINCT v) FROM unnest(elements) v);
-- Base and derived tables. org_id leads every key (RLS filters on it; Citus could shard on it).

-- Catalogue epochs: a namespace takes a new one when created and whenever it loses items, so a
-- namespace deleted and created again never matches a serving backend's cached catalogue.
CREATE SEQUENCE recsys.catalog_epochs;

-- A namespace: created on first use, with the embedding dimension fixed by its first embedding.
CREATE TABLE recsys.namespaces (
    org_id uuid NOT NULL DEFAULT recsys.current_org(),
    namespace recsys.namespace_name NOT NULL,
    embedding_dim int CHECK (embedding_dim BETWEEN 1 AND 16000),
    covis_window interval NOT NULL DEFAULT '1 hour' CHECK (covis_window > '0'::interval),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Renewed when items are deleted: serving backends then reload their cached catalogue.
    catalog_epoch bigint NOT NULL DEFAULT nextval('recsys.catalog_epochs'),
    PRIMARY KEY (org_id, namespace)
);

-- Event types of a namespace: weight and half-life of the decayed popularity.
CREATE TABLE recsys.event_types (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    type_id smallint NOT NULL CHECK (type_id BETWEEN 0 AND 255),
    name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    weight float8 NOT NULL CHECK (weight >= 0 AND weight <= 1000),
    half_life_days float8 NOT NULL CHECK (half_life_days > 0 AND half_life_days <= 36500),
    PRIMARY KEY (org_id, namespace, type_id),
    UNIQUE (org_id, namespace, name),
    FOREIGN KEY (org_id, namespace) REFERENCES recsys.namespaces DEFERRABLE INITIALLY DEFERRED
);

-- Built-in event types, copied into every new namespace.
CREATE TABLE recsys.default_event_types (
    type_id smallint PRIMARY KEY,
    name text NOT NULL UNIQUE,
    weight float8 NOT NULL,
    half_life_days float8 NOT NULL
);
INSERT INTO recsys.default_event_types VALUES
    (0, 'view', 0.1, 7), (1, 'click', 0.3, 7), (2, 'add', 0.7, 14), (3, 'purchase', 1.0, 30), (4, 'custom', 0.2, 7);

-- The catalogue.
CREATE TABLE recsys.items (
    org_id uuid NOT NULL DEFAULT recsys.current_org(),
    namespace recsys.namespace_name NOT NULL,
    item_id text COLLATE "C" NOT NULL CHECK (length(item_id) BETWEEN 1 AND 256),
    available boolean NOT NULL DEFAULT true,
    price float8 CHECK (price >= 0 AND price < 'Infinity'),
    brand text CHECK (length(brand) <= 256),
    category text CHECK (length(category) <= 256),
    tags text[] NOT NULL DEFAULT '{}' CHECK (recsys._is_text_set(tags) AND cardinality(tags) <= 256),
    props jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(props) = 'object'),
    embedding real[] CHECK (array_ndims(embedding) = 1
                            AND NOT embedding && '{NaN,Infinity,-Infinity}'::real[]
                            AND array_position(embedding, NULL) IS NULL),
    created_at timestamptz NOT NULL DEFAULT now() CHECK (isfinite(created_at)),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The transaction that last wrote the row: serving backends re-read the rows changed since
    -- their previous call (src/pg/catalog_cache.cpp). Set by a trigger on every write (the
    -- default covers writes with triggers off, session_replication_role = replica).
    changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (org_id, namespace, item_id),
    -- Deferred: the statement trigger creates a new namespace after the rows are in. The key
    -- also makes pg_dump restore namespaces before items (see dump.sql).
    FOREIGN KEY (org_id, namespace) REFERENCES recsys.namespaces DEFERRABLE INITIALLY DEFERRED
);

-- Items by tag (content candidates from a user's tag profile).
CREATE INDEX items_tags ON recsys.items USING gin (tags);
-- Items changed since a transaction (catalogue cache refresh).
CREATE INDEX items_changed ON recsys.items (org_id, namespace, changed_xid);


-- Users and their traits (segments are built on traits).
CREATE TABLE recsys.users (
    org_id uuid NOT NULL DEFAULT recsys.current_org(),
    namespace recsys.namespace_name NOT NULL,
    user_id text COLLATE "C" NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
    traits jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(traits) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, user_id),
    FOREIGN KEY (org_id, namespace) REFERENCES recsys.namespaces DEFERRABLE INITIALLY DEFERRED
);

-- Interactions: append-only, partitioned by month of ts (retention drops whole partitions).
-- seq orders events; event_id is the optional idempotency key (see event_ids).
CREATE SEQUENCE recsys.event_seq;
CREATE TABLE recsys.events (
    org_id uuid NOT NULL DEFAULT recsys.current_org(),
    namespace recsys.namespace_name NOT NULL,
    seq bigint NOT NULL DEFAULT nextval('recsys.event_seq'),
    event_id text COLLATE "C" CHECK (length(event_id) BETWEEN 1 AND 256),
    user_id text COLLATE "C" NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
    item_id text COLLATE "C" NOT NULL CHECK (length(item_id) BETWEEN 1 AND 256),
    type smallint NOT NULL DEFAULT 0 CHECK (type BETWEEN 0 AND 255),
    value float8 CHECK (value <> 'NaN' AND value > '-Infinity' AND value < 'Infinity'),
    ts timestamptz NOT NULL DEFAULT now() CHECK (isfinite(ts)),
    meta jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(meta) = 'object')
) PARTITION BY RANGE (ts);
CREATE TABLE recsys.events_default PARTITION OF recsys.events DEFAULT;
-- Indexes live on each partition, not on the parent: a parent index of the extension would make
-- pg_restore's ATTACH PARTITION build the partitions' indexes before the dump creates them.
CREATE FUNCTION recsys._index_event_partition(part text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE INDEX %I ON recsys.%I (org_id, namespace, user_id, ts)', part || '_user_ts', part);
    -- item_id leads so that this index never looks like a way to find a user's events.
    EXECUTE format('CREATE INDEX %I ON recsys.%I (item_id, org_id, namespace)', part || '_item', part);
END
$$;
SELECT recsys._index_event_partition('events_default');

-- Idempotency keys of stored events: the first event with a given event_id wins.
CREATE TABLE recsys.event_ids (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    ts timestamptz NOT NULL,
    PRIMARY KEY (org_id, namespace, event_id)
);

-- Derived tables are updated in place all the time: their only index is the key (the covis
-- mirror index aside) and pages keep room for HOT updates (fillfactor 80).

-- Derived: decayed popularity per item and event type, as log2 of the sum of
-- weight * 2^(days since 2000-01-01 / half-life); see src/core/decay.hpp.
CREATE TABLE recsys.item_popularity (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    item_id text COLLATE "C" NOT NULL,
    type smallint NOT NULL,
    log2_score float8 NOT NULL,
    events bigint NOT NULL,
    last_ts timestamptz NOT NULL,
    -- The transaction that last wrote the row (serving backends re-read changed rows; see items).
    changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (org_id, namespace, item_id, type)
) WITH (fillfactor = 80);
CREATE INDEX item_popularity_changed ON recsys.item_popularity (org_id, namespace, changed_xid);
-- The most popular items of each event type (ranking takes the top of each).
CREATE INDEX item_popularity_top ON recsys.item_popularity (org_id, namespace, type, log2_score DESC);

-- Derived: what each user interacted with (total event weight, last time, last purchase: the
-- purchase window of serving reads it here instead of scanning the user's events).
CREATE TABLE recsys.user_items (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    item_id text COLLATE "C" NOT NULL,
    events bigint NOT NULL,
    weight float8 NOT NULL,
    last_ts timestamptz NOT NULL,
    last_purchase_ts timestamptz,
    PRIMARY KEY (org_id, namespace, user_id, item_id)
) WITH (fillfactor = 80);

-- Derived: co-visitation, the number of event pairs of one user on two different items within
-- the namespace's covis_window of each other. Each unordered pair is one row (item_a < item_b);
-- recsys.item_neighbours shows both directions.
CREATE TABLE recsys.covis (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    item_a text COLLATE "C" NOT NULL,
    item_b text COLLATE "C" NOT NULL CHECK (item_a < item_b),
    pairs bigint NOT NULL,
    PRIMARY KEY (org_id, namespace, item_a, item_b)
) WITH (fillfactor = 80);
CREATE INDEX covis_item_b ON recsys.covis (org_id, namespace, item_b);

-- Derived: the transaction that last changed some co-visitation pair of an item (every pair that
-- changes involves an item of the events added or removed). Serving backends keep the pairs in
-- memory and re-read the pairs of the items changed since their previous call.
CREATE TABLE recsys.covis_changes (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    item_id text COLLATE "C" NOT NULL,
    changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (org_id, namespace, item_id)
);
CREATE INDEX covis_changes_changed ON recsys.covis_changes (org_id, namespace, changed_xid);

-- Row-level security: a caller sees and changes only the rows of its own organisation.
SELECT recsys._isolate_tenants(ARRAY['namespaces', 'event_types', 'items', 'users', 'events',
                                      'event_ids', 'item_popularity', 'user_items', 'covis', 'covis_changes']);

-- Each user's tag profile: the event weight on items carrying each tag. Computed on read from
-- user_items and the current item tags, so it is exact after any event or catalogue change.
CREATE VIEW recsys.user_tags WITH (security_invoker = true) AS
SELECT ui.org_id, ui.namespace, ui.user_id, tag, sum(ui.weight) AS weight
  FROM recsys.user_items ui
  JOIN recsys.items i ON i.org_id = ui.org_id AND i.namespace = ui.namespace AND i.item_id = ui.item_id
 CROSS JOIN LATERAL unnest(i.tags) AS tag
 WHERE ui.weight > 0
 GROUP BY ui.org_id, ui.namespace, ui.user_id, tag;

-- Co-visitation neighbours of every item, in both directions.
CREATE VIEW recsys.item_neighbours WITH (security_invoker = true) AS
SELECT org_id, namespace, item_a AS item_id, item_b AS neighbour_id, pairs FROM recsys.covis
UNION ALL
SELECT org_id, namespace, item_b, item_a, pairs FROM recsys.covis;
-- Monthly partitions of recsys.events. Rows for a month without a partition (plain INSERT/COPY)
-- land in recsys.events_default; _ensure_event_partitions moves them into their month when it
-- creates that month's partition.

-- Name of the partition holding the month that starts at `month_start`.
CREATE FUNCTION recsys._event_partition_name(month_start timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN 'events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');

-- Creates the monthly partitions covering [first_ts, last_ts] that do not exist yet.
CREATE FUNCTION recsys._ensure_event_partitions(first_ts timestamptz, last_ts timestamptz) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
DECLARE
    month_start timestamptz := date_trunc('month', first_ts);
    month_end timestamptz;
    part text;
    created int := 0;
BEGIN
    IF first_ts IS NULL OR last_ts IS NULL THEN
        RETURN 0;
    END IF;
    IF last_ts - first_ts > interval '100 years' THEN
        RAISE EXCEPTION 'events span more than 100 years (% to %)', first_ts, last_ts USING ERRCODE = '22023';
    END IF;
    WHILE month_start <= last_ts LOOP
        month_end := month_start + interval '1 month';
        part := recsys._event_partition_name(month_start);
        IF to_regclass('recsys.' || quote_ident(part)) IS NULL THEN
            -- One creator at a time; re-check after waiting.
            PERFORM pg_advisory_xact_lock(hashtext('recsys.event_partitions'));
            IF to_regclass('recsys.' || quote_ident(part)) IS NULL THEN
                -- Keep writers out while the month moves: an insert routed to the default
                -- partition before the new partition exists would fail after it is attached.
                -- Waiting here also makes their rows visible to the check below.
                LOCK TABLE recsys.events IN SHARE ROW EXCLUSIVE MODE;
                IF EXISTS (SELECT 1 FROM recsys.events_default WHERE ts >= month_start AND ts < month_end) THEN
                    -- Rows of that month already sit in the default partition: move them
                    -- (writing the partitions directly fires no derived-state triggers).
                    EXECUTE format('CREATE TABLE recsys.%I (LIKE recsys.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
                    EXECUTE format('WITH moved AS (DELETE FROM recsys.events_default WHERE ts >= $1 AND ts < $2 RETURNING *)
                                    INSERT INTO recsys.%I SELECT * FROM moved', part)
                        USING month_start, month_end;
                    EXECUTE format('ALTER TABLE recsys.events ATTACH PARTITION recsys.%I FOR VALUES FROM (%L) TO (%L)',
                                   part, month_start, month_end);
                ELSE
                    EXECUTE format('CREATE TABLE recsys.%I PARTITION OF recsys.events FOR VALUES FROM (%L) TO (%L)',
                                   part, month_start, month_end);
                END IF;
                PERFORM recsys._index_event_partition(part);
                created := created + 1;
            END IF;
        END IF;
        month_start := month_end;
    END LOOP;
    RETURN created;
END
$$;
-- Derived state kept current by statement-level triggers with transition tables, so the JSON
-- functions, plain INSERT and COPY all go through the same code. recsys_refresh rebuilds the
-- same tables from the events with the same SQL, so both paths agree by construction. (The tag
-- profile needs no upkeep: recsys.user_tags is a view over user_items and the items' tags.)
--
-- The _sql_* functions build statements over `src`, an SQL relation expression of event rows (a
-- transition table, or a query over recsys.events built with quoted literals only); trigger
-- bodies EXECUTE them, since transition tables are visible only in the trigger's own SPI context.

-- Creates missing namespaces (with the built-in event types) for the given (org, namespace) pairs.
CREATE FUNCTION recsys._ensure_namespaces(orgs uuid[], namespaces text[]) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    WITH created AS (
        INSERT INTO recsys.namespaces (org_id, namespace)
        SELECT DISTINCT o, n FROM unnest(orgs, namespaces) AS t(o, n)
        ON CONFLICT DO NOTHING
        RETURNING org_id, namespace)
    INSERT INTO recsys.event_types (org_id, namespace, type_id, name, weight, half_life_days)
    SELECT c.org_id, c.namespace, d.type_id, d.name, d.weight, d.half_life_days
      FROM created c CROSS JOIN recsys.default_event_types d;
$$;

-- Advisory lock key of a namespace (shared by ingestion, exclusive for refresh and reset).
CREATE FUNCTION recsys._namespace_lock_key(org uuid, namespace text) RETURNS bigint
LANGUAGE sql IMMUTABLE
RETURN hashtextextended(org::text || '/' || namespace, 0);

-- SQL that adds src's events to the decayed popularity (log2 space, merged with log2_add).
CREATE FUNCTION recsys._sql_add_popularity(src text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    INSERT INTO recsys.item_popularity AS p (org_id, namespace, item_id, type, log2_score, events, last_ts)
    SELECT n.org_id, n.namespace, n.item_id, n.type,
           recsys.log2_sum(recsys._log2_event(t.weight, recsys._decay_days(n.ts), t.half_life_days)),
           count(*), max(n.ts)
      FROM %s n
      JOIN recsys.event_types t ON t.org_id = n.org_id AND t.namespace = n.namespace AND t.type_id = n.type
     WHERE t.weight > 0
     GROUP BY n.org_id, n.namespace, n.item_id, n.type
    ON CONFLICT (org_id, namespace, item_id, type) DO UPDATE
       SET log2_score = recsys._log2_add(p.log2_score, excluded.log2_score),
           events = p.events + excluded.events,
           last_ts = greatest(p.last_ts, excluded.last_ts),
           changed_xid = pg_current_xact_id()$q$, src);

-- SQL that adds src's events to each user's interacted items (with the time of the last event
-- of the type named 'purchase').
CREATE FUNCTION recsys._sql_add_user_items(src text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    INSERT INTO recsys.user_items AS u (org_id, namespace, user_id, item_id, events, weight, last_ts, last_purchase_ts)
    SELECT n.org_id, n.namespace, n.user_id, n.item_id, count(*), sum(t.weight), max(n.ts),
           max(n.ts) FILTER (WHERE t.name = 'purchase')
      FROM %s n
      JOIN recsys.event_types t ON t.org_id = n.org_id AND t.namespace = n.namespace AND t.type_id = n.type
     GROUP BY n.org_id, n.namespace, n.user_id, n.item_id
    ON CONFLICT (org_id, namespace, user_id, item_id) DO UPDATE
       SET events = u.events + excluded.events,
           weight = u.weight + excluded.weight,
           last_ts = greatest(u.last_ts, excluded.last_ts),
           last_purchase_ts = greatest(u.last_purchase_ts, excluded.last_purchase_ts)$q$, src);

-- SQL that adds (sign 1) or removes (sign -1) the co-visitation pairs between src's events and
-- `partner` events of the same user on another item within the namespace's window. Every pair
-- is counted once: a pair of two src events only from its later event (by seq);
-- pg_temp.recsys_batch_seqs holds src's seqs (see _load_batch_seqs), so telling src's events
-- from the others is an index lookup, whatever the planner estimates. (A rebuild from all events
-- counts the same pairs in one pass in C++: recsys._covis_from_events.)
CREATE FUNCTION recsys._sql_add_covis(src text, partner text, sign int) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    INSERT INTO recsys.covis AS c (org_id, namespace, item_a, item_b, pairs)
    SELECT p.org_id, p.namespace, d.a, d.b, %s * count(*)
      FROM (SELECT n.org_id, n.namespace, n.item_id AS item_n, e.item_id AS item_e
              FROM %s n
              JOIN recsys.namespaces ns ON ns.org_id = n.org_id AND ns.namespace = n.namespace
             CROSS JOIN LATERAL (
                   -- OFFSET 0 keeps this a per-event index range scan on (user, ts).
                   SELECT e.item_id, e.seq FROM %s e
                    WHERE e.org_id = n.org_id AND e.namespace = n.namespace AND e.user_id = n.user_id
                      AND e.ts >= n.ts - ns.covis_window AND e.ts <= n.ts + ns.covis_window
                      AND e.item_id <> n.item_id
                      AND (e.seq < n.seq OR NOT EXISTS (SELECT 1 FROM pg_temp.recsys_batch_seqs x WHERE x.seq = e.seq))
                   OFFSET 0) e) p
     CROSS JOIN LATERAL (SELECT least(p.item_n, p.item_e), greatest(p.item_n, p.item_e)) AS d(a, b)
     GROUP BY p.org_id, p.namespace, d.a, d.b
    ON CONFLICT (org_id, namespace, item_a, item_b) DO UPDATE SET pairs = c.pairs + excluded.pairs$q$,
    sign, src, partner);

-- SQL that stamps the items of src's events as having changed co-visitation pairs.
CREATE FUNCTION recsys._sql_mark_covis_changes(src text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    INSERT INTO recsys.covis_changes AS c (org_id, namespace, item_id)
    SELECT DISTINCT s.org_id, s.namespace, s.item_id FROM %s s ORDER BY 1, 2, 3
    ON CONFLICT (org_id, namespace, item_id) DO UPDATE SET changed_xid = pg_current_xact_id()$q$, src);

-- The session's scratch table of the seqs of the events a trigger is processing.
CREATE FUNCTION recsys._sql_load_batch_seqs(src text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN ARRAY[
    'DO $t$ BEGIN IF to_regclass(''pg_temp.recsys_batch_seqs'') IS NULL THEN
         CREATE TEMP TABLE recsys_batch_seqs (seq bigint PRIMARY KEY) ON COMMIT DELETE ROWS; END IF; END $t$',
    'DELETE FROM pg_temp.recsys_batch_seqs',
    format('INSERT INTO pg_temp.recsys_batch_seqs SELECT seq FROM %s s', src),
    'ANALYZE pg_temp.recsys_batch_seqs'];

-- SQL that deletes the emptied co-visitation pairs of src's items.
CREATE FUNCTION recsys._sql_prune_covis(src text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    DELETE FROM recsys.covis c
     USING (SELECT DISTINCT org_id, namespace, item_id FROM %s s) k
     WHERE c.org_id = k.org_id AND c.namespace = k.namespace
       AND (c.item_a = k.item_id OR c.item_b = k.item_id) AND c.pairs <= 0$q$, src);

-- The statements that fold newly stored events (src) into every derived table.
CREATE FUNCTION recsys._sql_events_added(src text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN recsys._sql_load_batch_seqs(src) || ARRAY[
    recsys._sql_add_popularity(src),
    recsys._sql_add_user_items(src),
    recsys._sql_add_covis(src, 'recsys.events', 1),
    recsys._sql_mark_covis_changes(src)];

-- Co-visitation of every event of a namespace, counted in one pass (src/pg/covisitation.cpp).
CREATE FUNCTION recsys._covis_from_events(org uuid, ns text)
    RETURNS TABLE (item_a text, item_b text, pairs bigint)
    AS 'MODULE_PATHNAME', 'recsys_covis_from_events' LANGUAGE C STABLE STRICT;

-- Rebuilds a namespace's derived tables from its events; the caller has emptied them. Without
-- store_covis the co-visitation pairs are not stored (see recsys._catalog_covis_from_events).
CREATE FUNCTION recsys._rebuild_derived(org uuid, ns text, store_covis boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
SET jit = off
AS $$
DECLARE
    src text := format('(SELECT * FROM recsys.events WHERE org_id = %L AND namespace = %L)', org, ns);
BEGIN
    EXECUTE recsys._sql_add_popularity(src);
    EXECUTE recsys._sql_add_user_items(src);
    IF store_covis THEN
        INSERT INTO recsys.covis (org_id, namespace, item_a, item_b, pairs)
        SELECT org, ns, c.item_a, c.item_b, c.pairs FROM recsys._covis_from_events(org, ns) c;
        EXECUTE recsys._sql_mark_covis_changes(src);
    END IF;
END
$$;
-- The statements that withdraw deleted events (src, no longer in recsys.events) from every
-- derived table: popularity and interacted items of the touched keys are rebuilt from the
-- remaining events; tag profiles and co-visitation are decremented.
CREATE FUNCTION recsys._sql_events_removed(src text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN recsys._sql_load_batch_seqs(src) || ARRAY[
    format($q$DELETE FROM recsys.item_popularity p
                USING (SELECT DISTINCT org_id, namespace, item_id, type FROM %s s) k
                WHERE p.org_id = k.org_id AND p.namespace = k.namespace AND p.item_id = k.item_id
                  AND p.type = k.type$q$, src),
    recsys._sql_add_popularity(format(
        '(SELECT e.* FROM recsys.events e JOIN (SELECT DISTINCT org_id, namespace, item_id, type FROM %s s) k
             ON e.org_id = k.org_id AND e.namespace = k.namespace AND e.item_id = k.item_id AND e.type = k.type)', src)),
    format($q$DELETE FROM recsys.user_items u
                USING (SELECT DISTINCT org_id, namespace, user_id, item_id FROM %s s) k
                WHERE u.org_id = k.org_id AND u.namespace = k.namespace AND u.user_id = k.user_id
                  AND u.item_id = k.item_id$q$, src),
    recsys._sql_add_user_items(format(
        '(SELECT e.* FROM recsys.events e JOIN (SELECT DISTINCT org_id, namespace, user_id, item_id FROM %s s) k
             ON e.org_id = k.org_id AND e.namespace = k.namespace AND e.user_id = k.user_id AND e.item_id = k.item_id)', src)),
    recsys._sql_add_covis(src, format('(SELECT * FROM recsys.events UNION ALL SELECT * FROM %s s)', src), -1),
    recsys._sql_prune_covis(src),
    recsys._sql_mark_covis_changes(src)];

-- SQL that takes the shared namespace locks (refresh and reset take them exclusively) and the
-- per-user locks that keep concurrent batches from missing or double-counting each other's
-- co-visitation pairs.
CREATE FUNCTION recsys._sql_lock_event_keys(src text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format($q$
    SELECT count(l) FROM (
        SELECT pg_advisory_xact_lock_shared(k) AS l
          FROM (SELECT DISTINCT recsys._namespace_lock_key(org_id, namespace) AS k FROM %1$s s ORDER BY 1) a
        UNION ALL
        SELECT pg_advisory_xact_lock(k)
          FROM (SELECT DISTINCT hashtextextended(org_id::text || '/' || namespace || '/' || user_id, 1) AS k
                  FROM %1$s s ORDER BY 1) b) s$q$, src);

-- AFTER INSERT ON events (statement): namespaces, type check, idempotency, derived state.
CREATE FUNCTION recsys._events_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Fresh partitions have no statistics; derived state is always read through indexes.
SET enable_seqscan = off
SET work_mem = '256MB'
SET jit = off
AS $$
DECLARE
    bad record;
    keyed bigint;
    claimed bigint;
    src text := 'new_events';
    statement text;
BEGIN
    PERFORM recsys._ensure_namespaces(array_agg(org_id), array_agg(namespace))
       FROM (SELECT DISTINCT org_id, namespace FROM new_events) s;
    SELECT n.namespace, n.type INTO bad
      FROM new_events n
      LEFT JOIN recsys.event_types t ON t.org_id = n.org_id AND t.namespace = n.namespace AND t.type_id = n.type
     WHERE t.type_id IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown event type % in namespace "%"', bad.type, bad.namespace
            USING ERRCODE = '22023', HINT = 'The built-in types are 0 view, 1 click, 2 add, 3 purchase and 4 custom.';
    END IF;
    EXECUTE recsys._sql_lock_event_keys(src);

    -- Idempotency: the first event with an event_id claims it; later ones are removed again.
    SELECT count(*) INTO keyed FROM new_events WHERE event_id IS NOT NULL;
    IF keyed > 0 THEN
        INSERT INTO recsys.event_ids (org_id, namespace, event_id, seq, ts)
        SELECT org_id, namespace, event_id, seq, ts FROM new_events WHERE event_id IS NOT NULL ORDER BY seq
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS claimed = ROW_COUNT;
        IF claimed < keyed THEN
            src := '(SELECT n.* FROM new_events n WHERE n.event_id IS NULL OR EXISTS (
                        SELECT 1 FROM recsys.event_ids x WHERE x.org_id = n.org_id AND x.namespace = n.namespace
                           AND x.event_id = n.event_id AND x.seq = n.seq))';
            DELETE FROM recsys.events e USING new_events n
             WHERE n.event_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM recsys.event_ids x
                                WHERE x.org_id = n.org_id AND x.namespace = n.namespace
                                  AND x.event_id = n.event_id AND x.seq = n.seq)
               AND e.org_id = n.org_id AND e.namespace = n.namespace AND e.user_id = n.user_id
               AND e.ts = n.ts AND e.seq = n.seq;
        END IF;
    END IF;

    FOREACH statement IN ARRAY recsys._sql_events_added(src) LOOP
        EXECUTE statement;
    END LOOP;
    RETURN NULL;
END
$$;

-- AFTER DELETE ON events (statement): withdraw derived state, then forget idempotency keys.
-- Rows that never counted (duplicates removed again by _events_inserted) are ignored.
CREATE FUNCTION recsys._events_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Fresh partitions have no statistics; derived state is always read through indexes.
SET enable_seqscan = off
SET work_mem = '256MB'
SET jit = off
AS $$
DECLARE
    counted constant text := '(SELECT o.* FROM old_events o WHERE o.event_id IS NULL OR EXISTS (
                                  SELECT 1 FROM recsys.event_ids x WHERE x.org_id = o.org_id AND x.namespace = o.namespace
                                     AND x.event_id = o.event_id AND x.seq = o.seq))';
    statement text;
BEGIN
    EXECUTE recsys._sql_lock_event_keys('old_events');
    FOREACH statement IN ARRAY recsys._sql_events_removed(counted) LOOP
        EXECUTE statement;
    END LOOP;
    DELETE FROM recsys.event_ids x USING old_events o
     WHERE x.org_id = o.org_id AND x.namespace = o.namespace AND x.event_id = o.event_id AND x.seq = o.seq;
    RETURN NULL;
END
$$;

-- BEFORE UPDATE ON events: events are append-only.
CREATE FUNCTION recsys._events_append_only() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'recsys.events is append-only'
        USING ERRCODE = '0A000', HINT = 'Delete the event and record a new one, or use recsys_delete_events.';
END
$$;

CREATE TRIGGER events_inserted AFTER INSERT ON recsys.events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION recsys._events_inserted();
CREATE TRIGGER events_deleted AFTER DELETE ON recsys.events
    REFERENCING OLD TABLE AS old_events FOR EACH STATEMENT EXECUTE FUNCTION recsys._events_deleted();
CREATE TRIGGER events_append_only BEFORE UPDATE ON recsys.events
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._events_append_only();

-- AFTER INSERT/UPDATE ON items (statement): namespaces and the embedding dimension.
CREATE FUNCTION recsys._items_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    PERFORM recsys._ensure_namespaces(array_agg(org_id), array_agg(namespace))
       FROM (SELECT DISTINCT org_id, namespace FROM new_items) s;
    -- The first embedding of a namespace fixes its dimension; every other must match it.
    UPDATE recsys.namespaces ns SET embedding_dim = f.dim
      FROM (SELECT DISTINCT ON (org_id, namespace) org_id, namespace, cardinality(embedding) AS dim
              FROM new_items WHERE embedding IS NOT NULL ORDER BY org_id, namespace, item_id) f
     WHERE ns.org_id = f.org_id AND ns.namespace = f.namespace AND ns.embedding_dim IS NULL;
    SELECT n.item_id, n.namespace, cardinality(n.embedding) AS dim, ns.embedding_dim INTO bad
      FROM new_items n JOIN recsys.namespaces ns ON ns.org_id = n.org_id AND ns.namespace = n.namespace
     WHERE n.embedding IS NOT NULL AND cardinality(n.embedding) <> ns.embedding_dim
     ORDER BY n.item_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'embedding of item "%" has % dimensions but namespace "%" uses %',
            bad.item_id, bad.dim, bad.namespace, bad.embedding_dim
            USING ERRCODE = '22023', DETAIL = 'The first embedding stored in a namespace fixes its dimension.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_inserted AFTER INSERT ON recsys.items
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION recsys._items_changed();
CREATE TRIGGER items_updated AFTER UPDATE ON recsys.items
    REFERENCING OLD TABLE AS old_items NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION recsys._items_changed();

-- BEFORE INSERT/UPDATE ON items (row): stamps the row with the writing (top-level) transaction,
-- whatever the writer put there, so a serving backend's catalogue cannot miss the change.
CREATE FUNCTION recsys._stamp_item_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER items_stamp_change BEFORE INSERT OR UPDATE ON recsys.items
    FOR EACH ROW EXECUTE FUNCTION recsys._stamp_item_change();

-- AFTER DELETE / TRUNCATE ON items, item_popularity and co-visitation (statement): renews the catalogue epoch
-- of the namespaces that lost rows, so serving backends reload their cached catalogue.
CREATE FUNCTION recsys._bump_catalog_epoch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE recsys.namespaces SET catalog_epoch = nextval('recsys.catalog_epochs');
    ELSE
        UPDATE recsys.namespaces n SET catalog_epoch = nextval('recsys.catalog_epochs')
          FROM (SELECT DISTINCT org_id, namespace FROM removed) r
         WHERE n.org_id = r.org_id AND n.namespace = r.namespace;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_deleted AFTER DELETE ON recsys.items
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
CREATE TRIGGER items_truncated AFTER TRUNCATE ON recsys.items
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
-- Counts this backend's writes of catalogue rows (see src/pg/catalog_cache.cpp).
CREATE FUNCTION recsys._note_catalogue_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'recsys_note_catalogue_write' LANGUAGE C;
CREATE TRIGGER items_written AFTER INSERT OR UPDATE ON recsys.items
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._note_catalogue_write();
CREATE TRIGGER item_popularity_written AFTER INSERT OR UPDATE ON recsys.item_popularity
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._note_catalogue_write();
-- Popularity rows go when events are deleted or the derived state is rebuilt: the same reload.
CREATE TRIGGER item_popularity_deleted AFTER DELETE ON recsys.item_popularity
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
CREATE TRIGGER item_popularity_truncated AFTER TRUNCATE ON recsys.item_popularity
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
-- Co-visitation: changed pairs are found through covis_changes; losing that track reloads.
CREATE TRIGGER covis_changes_written AFTER INSERT OR UPDATE ON recsys.covis_changes
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._note_catalogue_write();
CREATE TRIGGER covis_changes_deleted AFTER DELETE ON recsys.covis_changes
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
CREATE TRIGGER covis_changes_truncated AFTER TRUNCATE ON recsys.covis_changes
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();
CREATE TRIGGER covis_truncated AFTER TRUNCATE ON recsys.covis
    FOR EACH STATEMENT EXECUTE FUNCTION recsys._bump_catalog_epoch();

-- AFTER INSERT ON users (statement): create missing namespaces.
CREATE FUNCTION recsys._users_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM recsys._ensure_namespaces(array_agg(org_id), array_agg(namespace))
       FROM (SELECT DISTINCT org_id, namespace FROM new_users) s;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_inserted AFTER INSERT ON recsys.users
    REFERENCING NEW TABLE AS new_users FOR EACH STATEMENT EXECUTE FUNCTION recsys._users_inserted();
-- Validation of JSON ingestion batches. Each _*_problem function returns NULL when its field is
-- acceptable, else ARRAY[field, sqlstate, message]; a batch is checked before anything is written
-- and the first problem (lowest index) is raised, naming the element's index and field.

-- recsys.max_batch_size (calling into the library also defines the recsys.* settings).
CREATE FUNCTION recsys._max_batch_size() RETURNS int
    AS 'MODULE_PATHNAME', 'recsys_max_batch_size' LANGUAGE C STABLE PARALLEL SAFE;

-- Raises unless `payload` is a JSON array within recsys.max_batch_size; returns its length.
CREATE FUNCTION recsys._check_batch(payload jsonb, what text) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    size int;
    limit_size int := recsys._max_batch_size();
BEGIN
    IF payload IS NULL OR jsonb_typeof(payload) <> 'array' THEN
        RAISE EXCEPTION '% must be a JSON array, not %', what, coalesce(jsonb_typeof(payload), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    size := jsonb_array_length(payload);
    IF size > limit_size THEN
        RAISE EXCEPTION 'batch of % % exceeds recsys.max_batch_size (%)', size, what, limit_size
            USING ERRCODE = '22023', HINT = 'Split the batch, or raise recsys.max_batch_size.';
    END IF;
    RETURN size;
END
$$;

-- Raises the first problem of a batch's elements, as "invalid <what> at index i: field ...".
-- `problem` is an internal SQL expression over the element `e` giving a _*_problem result.
CREATE FUNCTION recsys._check_elements(payload jsonb, what text, problem text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    idx bigint;
    found_problem text[];
BEGIN
    EXECUTE format('SELECT i - 1, p FROM jsonb_array_elements($1) WITH ORDINALITY a(e, i), %s AS p
                     WHERE p IS NOT NULL ORDER BY i LIMIT 1', problem)
       INTO idx, found_problem USING payload;
    IF found_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % at index %: %', what, idx,
            CASE WHEN found_problem[1] IS NULL THEN found_problem[3]
                 ELSE format('field "%s" %s', found_problem[1], found_problem[3]) END
            USING ERRCODE = found_problem[2];
    END IF;
END
$$;

-- The first key of `e` that is not in `known`.
CREATE FUNCTION recsys._unknown_field_problem(e jsonb, known text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN e - known <> '{}'::jsonb THEN
           (SELECT ARRAY[k, '22023', format('is not known (known fields: %s)', array_to_string(known, ', '))]
              FROM jsonb_object_keys(e) k WHERE k <> ALL (known) ORDER BY k LIMIT 1) END;

-- A required identifier: a non-empty string of at most 256 characters.
CREATE FUNCTION recsys._id_problem(e jsonb, field text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field THEN ARRAY[field, '22023', 'is required']
    WHEN jsonb_typeof(e -> field) = 'null' THEN ARRAY[field, '22004', 'must not be null']
    WHEN jsonb_typeof(e -> field) <> 'string' THEN ARRAY[field, '22023', 'must be a string, not ' || jsonb_typeof(e -> field)]
    WHEN e ->> field = '' THEN ARRAY[field, '22023', 'must not be empty']
    WHEN length(e ->> field) > 256 THEN ARRAY[field, '22001', 'is longer than 256 characters']
END;

-- An optional string of at most max_length characters.
CREATE FUNCTION recsys._string_problem(e jsonb, field text, max_length int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> 'string' THEN ARRAY[field, '22023', 'must be a string, not ' || jsonb_typeof(e -> field)]
    WHEN length(e ->> field) > max_length THEN ARRAY[field, '22001', format('is longer than %s characters', max_length)]
END;

-- An optional finite number, at least `minimum` when that is given.
CREATE FUNCTION recsys._number_problem(e jsonb, field text, minimum float8) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> 'number' THEN ARRAY[field, '22023', 'must be a number, not ' || jsonb_typeof(e -> field)]
    WHEN abs((e -> field)::numeric) >= 1e300 THEN ARRAY[field, '22003', 'is out of range']
    WHEN (e -> field)::numeric < minimum THEN ARRAY[field, '22023', format('must be at least %s', minimum)]
END;

-- An optional value of one JSON type ('boolean' or 'object').
CREATE FUNCTION recsys._typed_problem(e jsonb, field text, json_type text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> json_type
        THEN ARRAY[field, '22023', format('must be %s %s, not %s', CASE WHEN json_type = 'object' THEN 'an' ELSE 'a' END,
                                          json_type, jsonb_typeof(e -> field))]
END;

-- An optional name (surface, segment): null, or 1 to 64 characters from [A-Za-z0-9_.:-].
CREATE FUNCTION recsys._name_problem(e jsonb, field text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN e ? field AND jsonb_typeof(e -> field) <> 'null'
         AND (jsonb_typeof(e -> field) <> 'string' OR e ->> field !~ '^[A-Za-z0-9_.:-]{1,64}$')
        THEN ARRAY[field, '22023', format('must be null (every %s) or a %s name', field, field)]
END;

-- An optional whole number between low and high.
CREATE FUNCTION recsys._whole_problem(e jsonb, field text, low int, high int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN e ? field AND (jsonb_typeof(e -> field) <> 'number' OR (e ->> field)::numeric % 1 <> 0
                        OR (e ->> field)::numeric NOT BETWEEN low AND high)
        THEN ARRAY[field, '22023', format('must be a whole number between %s and %s', low, high)]
END;

-- Raises the problem of a single JSON object, as "invalid <what>: field ...".
CREATE FUNCTION recsys._raise_object_problem(what text, problem text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid %: %', what,
            CASE WHEN problem[1] IS NULL THEN problem[3] ELSE format('field "%s" %s', problem[1], problem[3]) END
            USING ERRCODE = problem[2];
    END IF;
END
$$;

-- Optional tags: an array of at most 256 distinct non-empty strings of at most 256 characters.
CREATE FUNCTION recsys._tags_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? 'tags' OR jsonb_typeof(e -> 'tags') = 'null' THEN NULL
    WHEN jsonb_typeof(e -> 'tags') <> 'array' THEN ARRAY['tags', '22023', 'must be an array of strings, not ' || jsonb_typeof(e -> 'tags')]
    WHEN jsonb_array_length(e -> 'tags') > 256 THEN ARRAY['tags', '22023', 'has more than 256 tags']
    ELSE (SELECT ARRAY['tags', '22023', CASE WHEN jsonb_typeof(t) <> 'string' THEN format('element %s must be a string, not %s', i - 1, jsonb_typeof(t))
                                             WHEN t #>> '{}' = '' THEN format('element %s must not be empty', i - 1)
                                             ELSE format('element %s is longer than 256 characters', i - 1) END]
            FROM jsonb_array_elements(e -> 'tags') WITH ORDINALITY AS a(t, i)
           WHERE jsonb_typeof(t) <> 'string' OR t #>> '{}' = '' OR length(t #>> '{}') > 256
           ORDER BY i LIMIT 1)
END;

-- An optional embedding: a non-empty array of finite numbers, of length `dim` when that is known.
CREATE FUNCTION recsys._embedding_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? 'embedding' OR jsonb_typeof(e -> 'embedding') = 'null' THEN NULL
    WHEN jsonb_typeof(e -> 'embedding') <> 'array'
        THEN ARRAY['embedding', '22023', 'must be an array of numbers, not ' || jsonb_typeof(e -> 'embedding')]
    WHEN jsonb_array_length(e -> 'embedding') = 0 THEN ARRAY['embedding', '22023', 'must not be empty']
    WHEN jsonb_array_length(e -> 'embedding') > 16000 THEN ARRAY['embedding', '22023', 'has more than 16000 dimensions']
    WHEN dim IS NOT NULL AND jsonb_array_length(e -> 'embedding') <> dim
        THEN ARRAY['embedding', '22023', format('has %s dimensions where %s are expected', jsonb_array_length(e -> 'embedding'), dim)]
    ELSE (SELECT ARRAY['embedding', '22023', CASE WHEN jsonb_typeof(v) <> 'number' THEN format('element %s must be a number, not %s', i - 1, jsonb_typeof(v))
                                                  ELSE format('element %s is out of range for real', i - 1) END]
            FROM jsonb_array_elements(e -> 'embedding') WITH ORDINALITY AS a(v, i)
           WHERE jsonb_typeof(v) <> 'number' OR abs(v::numeric) > 3e38
           ORDER BY i LIMIT 1)
END;

-- A JSON timestamp string or number of seconds since 1970 as timestamptz (NULL when invalid).
CREATE FUNCTION recsys._json_time(v jsonb) RETURNS timestamptz
LANGUAGE sql STABLE
RETURN CASE jsonb_typeof(v)
    WHEN 'string' THEN recsys._try_timestamptz(v #>> '{}')
    WHEN 'number' THEN CASE WHEN abs(v::numeric) < 1e11 THEN to_timestamp(v::numeric::float8) END
END;

-- An optional time: an ISO 8601 / PostgreSQL timestamp string, or seconds since 1970 as a number,
-- not before 1970 and, unless future_ok, at most one day from now.
CREATE FUNCTION recsys._time_problem(e jsonb, field text, future_ok boolean DEFAULT false) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN recsys._json_time(e -> field) >= '1970-01-01 00:00:00+00'
         AND (future_ok OR recsys._json_time(e -> field) <= now() + interval '1 day') THEN NULL
    WHEN jsonb_typeof(e -> field) NOT IN ('string', 'number')
        THEN ARRAY[field, '22023', 'must be a timestamp string or seconds since 1970, not ' || jsonb_typeof(e -> field)]
    WHEN recsys._json_time(e -> field) IS NULL THEN ARRAY[field, '22007', format('is not a valid timestamp: %s', e -> field)]
    WHEN recsys._json_time(e -> field) < '1970-01-01 00:00:00+00' THEN ARRAY[field, '22008', format('lies before 1970: %s', e -> field)]
    ELSE ARRAY[field, '22008', format('lies more than a day in the future: %s', e -> field)]
END;

-- The first problem of one item.
CREATE FUNCTION recsys._item_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'available', 'price', 'brand', 'category', 'tags',
                                               'props', 'embedding', 'created_at']),
        recsys._id_problem(e, 'item_id'),
        recsys._typed_problem(e, 'available', 'boolean'),
        recsys._number_problem(e, 'price', 0),
        recsys._string_problem(e, 'brand', 256),
        recsys._string_problem(e, 'category', 256),
        recsys._tags_problem(e),
        recsys._typed_problem(e, 'props', 'object'),
        recsys._embedding_problem(e, dim),
        recsys._time_problem(e, 'created_at'))
END;

-- The first problem of one user.
CREATE FUNCTION recsys._user_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['user_id', 'traits']),
        recsys._id_problem(e, 'user_id'),
        recsys._typed_problem(e, 'traits', 'object'))
END;

-- The first problem of one event (the type's name is resolved against the namespace later).
CREATE FUNCTION recsys._event_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['user_id', 'item_id', 'type', 'value', 'ts', 'meta', 'event_id']),
        recsys._id_problem(e, 'user_id'),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'type' THEN ARRAY['type', '22023', 'is required']
             WHEN jsonb_typeof(e -> 'type') NOT IN ('string', 'number')
                 THEN ARRAY['type', '22023', 'must be an event type name or number, not ' || jsonb_typeof(e -> 'type')]
             WHEN jsonb_typeof(e -> 'type') = 'number'
                  AND ((e -> 'type')::numeric NOT BETWEEN 0 AND 255 OR (e -> 'type')::numeric % 1 <> 0)
                 THEN ARRAY['type', '22023', format('must be a whole number between 0 and 255, not %s', e -> 'type')]
        END,
        recsys._number_problem(e, 'value', NULL),
        recsys._time_problem(e, 'ts'),
        recsys._typed_problem(e, 'meta', 'object'),
        CASE WHEN e ? 'event_id' AND jsonb_typeof(e -> 'event_id') <> 'null' THEN recsys._id_problem(e, 'event_id') END)
END;

-- The first problem of one event type definition.
CREATE FUNCTION recsys._event_type_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['name', 'type_id', 'weight', 'half_life_days']),
        recsys._id_problem(e, 'name'),
        CASE WHEN e ->> 'name' !~ '^[a-z][a-z0-9_]{0,31}$'
             THEN ARRAY['name', '22023', 'must start with a-z and hold at most 32 characters from a-z, 0-9 and "_"'] END,
        recsys._whole_problem(e, 'type_id', 0, 255),
        CASE WHEN NOT e ? 'weight' THEN ARRAY['weight', '22023', 'is required'] END,
        recsys._number_problem(e, 'weight', 0),
        CASE WHEN (e ->> 'weight')::numeric > 1000 THEN ARRAY['weight', '22023', 'must be at most 1000'] END,
        CASE WHEN NOT e ? 'half_life_days' THEN ARRAY['half_life_days', '22023', 'is required'] END,
        recsys._number_problem(e, 'half_life_days', 0.0001),
        CASE WHEN (e ->> 'half_life_days')::numeric > 36500 THEN ARRAY['half_life_days', '22023', 'must be at most 36500'] END)
END;

-- Raises when an id repeats inside a batch, naming the first repeated id and both indexes.
CREATE FUNCTION recsys._check_unique_ids(payload jsonb, what text, field text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dup record;
BEGIN
    SELECT d.id, d.first_idx, d.idx INTO dup
      FROM (SELECT e ->> field AS id, i - 1 AS idx, min(i - 1) OVER (PARTITION BY e ->> field) AS first_idx
              FROM jsonb_array_elements(payload) WITH ORDINALITY AS a(e, i)) d
     WHERE d.idx > d.first_idx
     ORDER BY d.idx LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid % at index %: duplicate % "%" (also at index %)', what, dup.idx, field, dup.id, dup.first_idx
            USING ERRCODE = '22023', DETAIL = 'A batch may name each id once; nothing was written.';
    END IF;
END
$$;

-- The whole check of a JSON batch: an array within recsys.max_batch_size, every element free of
-- problems (`problem`, see _check_elements), and `id_field` unique when given. Returns the size.
CREATE FUNCTION recsys._check_payload(payload jsonb, plural text, singular text, problem text, id_field text)
    RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    size int := recsys._check_batch(payload, plural);
BEGIN
    PERFORM recsys._check_elements(payload, singular, problem);
    IF id_field IS NOT NULL THEN
        PERFORM recsys._check_unique_ids(payload, singular, id_field);
    END IF;
    RETURN size;
END
$$;

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
-- Namespace maintenance: rebuild derived state, reset a namespace, configure event types.

-- Rebuilds every derived table of a namespace from its events (and files stray rows of the
-- default events partition into monthly partitions). Returns the rebuilt row counts.
CREATE FUNCTION recsys.recsys_refresh(namespace text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET work_mem = '256MB'
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    stray record;
BEGIN
    PERFORM recsys._require_namespace(org, ns);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    SELECT min(ts) AS first_ts, max(ts) AS last_ts INTO stray FROM recsys.events_default;
    PERFORM recsys._ensure_event_partitions(stray.first_ts, stray.last_ts);

    DELETE FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns;
    DELETE FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns;
    DELETE FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.covis_changes c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.item_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.embedding_indexes x WHERE x.org_id = org AND x.namespace = ns;
    DELETE FROM recsys.factor_models f WHERE f.org_id = org AND f.namespace = ns;
    PERFORM recsys._rebuild_derived(org, ns);
    RETURN jsonb_build_object(
        'events', (SELECT count(*) FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns),
        'item_popularity', (SELECT count(*) FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns),
        'user_items', (SELECT count(*) FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns),
        'user_tags', (SELECT count(*) FROM recsys.user_tags u WHERE u.org_id = org AND u.namespace = ns),
        'covis', (SELECT count(*) FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns));
END
$$;

-- Deletes everything a namespace holds. A namespace with events is reset only with force.
-- Returns the deleted row counts.
CREATE FUNCTION recsys.recsys_reset_namespace(namespace text, force boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    counts jsonb := '{}';
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    IF NOT coalesce(force, false) AND EXISTS (SELECT 1 FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" has events', ns
            USING ERRCODE = '55000', HINT = 'Call recsys_reset_namespace(namespace, force => true) to delete them too.';
    END IF;
    -- Derived state goes with the namespace: skip the per-row derived-state triggers.
    SET LOCAL session_replication_role = replica;
    DELETE FROM recsys.events e WHERE e.org_id = org AND e.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('events', n);
    DELETE FROM recsys.items i WHERE i.org_id = org AND i.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('items', n);
    DELETE FROM recsys.users u WHERE u.org_id = org AND u.namespace = ns;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('users', n);
    DELETE FROM recsys.event_ids x WHERE x.org_id = org AND x.namespace = ns;
    DELETE FROM recsys.item_popularity p WHERE p.org_id = org AND p.namespace = ns;
    DELETE FROM recsys.user_items u WHERE u.org_id = org AND u.namespace = ns;
    DELETE FROM recsys.covis c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.covis_changes c WHERE c.org_id = org AND c.namespace = ns;
    DELETE FROM recsys.item_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.user_factors f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.factor_models f WHERE f.org_id = org AND f.namespace = ns;
    DELETE FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = ns;
    DELETE FROM recsys.namespaces x WHERE x.org_id = org AND x.namespace = ns;
    SET LOCAL session_replication_role = origin;
    RETURN counts;
END
$$;

-- Defines or changes event types of a namespace: [{name, type_id?, weight, half_life_days}].
-- A new name without type_id gets the next free number from 5. Derived state is rebuilt,
-- since weights and half-lives shape it. Returns the namespace's event types.
CREATE FUNCTION recsys.recsys_upsert_event_types(namespace text, types jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    e jsonb;
    existing smallint;
    tid smallint;
BEGIN
    PERFORM recsys._check_payload(payload, 'event types', 'event type', 'recsys._event_type_problem(e)', 'name');
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));

    FOR e IN SELECT value FROM jsonb_array_elements(payload) LOOP
        SELECT x.type_id INTO existing FROM recsys.event_types x
         WHERE x.org_id = org AND x.namespace = ns AND x.name = e ->> 'name';
        tid := coalesce((e ->> 'type_id')::smallint, existing,
                        (SELECT greatest(4, max(x.type_id)) + 1 FROM recsys.event_types x
                          WHERE x.org_id = org AND x.namespace = ns));
        IF existing IS NOT NULL AND existing <> tid THEN
            RAISE EXCEPTION 'event type "%" already has number %', e ->> 'name', existing
                USING ERRCODE = '22023', HINT = 'Leave out type_id to change its weight or half-life.';
        END IF;
        INSERT INTO recsys.event_types AS t (org_id, namespace, type_id, name, weight, half_life_days)
        VALUES (org, ns, tid, e ->> 'name', (e ->> 'weight')::float8, (e ->> 'half_life_days')::float8)
        ON CONFLICT (org_id, namespace, type_id) DO UPDATE
           SET name = excluded.name, weight = excluded.weight, half_life_days = excluded.half_life_days;
    END LOOP;
    PERFORM recsys.recsys_refresh(ns);
    RETURN (SELECT jsonb_agg(jsonb_build_object('type_id', t.type_id, 'name', t.name, 'weight', t.weight,
                                                'half_life_days', t.half_life_days) ORDER BY t.type_id)
              FROM recsys.event_types t WHERE t.org_id = org AND t.namespace = ns);
END
$$;
-- Namespace configuration: validated knobs, versioned with history, named profiles.
-- Effective value of a knob: default < namespace (later: segment profile < bandit policy < request).

-- Every knob, its type, range and default: the one place knobs are defined.
CREATE TABLE recsys.config_knobs (
    name text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('number', 'integer', 'boolean')),
    minimum float8,
    maximum float8,
    default_value jsonb NOT NULL,
    description text NOT NULL
);
INSERT INTO recsys.config_knobs VALUES
    ('alpha', 'number', 0, 100, '1.0', 'weight of decayed popularity in the blend'),
    ('beta', 'number', 0, 100, '1.0', 'weight of co-visitation in the blend'),
    ('gamma', 'number', 0, 100, '0.5', 'weight of embedding and collaborative similarity in the blend'),
    ('profile_boost', 'number', 0, 1, '0.15', 'largest personalisation boost from tag-profile overlap'),
    ('mmr_lambda', 'number', 0, 1, '0.7', 'MMR trade-off: 1 relevance only, 0 diversity only'),
    ('brand_cap', 'integer', 0, 1000, '0', 'most items per brand in one list (0: no cap)'),
    ('category_cap', 'integer', 0, 1000, '0', 'most items per category in one list (0: no cap)'),
    ('fanout', 'integer', 1, 10000, '500', 'candidates taken from each source'),
    ('novelty', 'number', 0, 1, '0', 'share of the score taken from the most popular candidates (more reach, less accuracy)'),
    ('covis_penalty', 'number', 0, 1, '0', 'co-visitation counts divided by the neighbour''s total pairs to this power (more reach)'),
    ('recent_items', 'integer', 1, 1000, '20', 'most recent items of the user whose co-visitation neighbours are candidates'),
    ('pin_slots', 'integer', 0, 100, '3', 'most pinned items in one list'),
    ('exclude_purchased_days', 'number', 0, 3650, '30', 'days during which purchased items are not recommended again'),
    ('covis_window_days', 'number', 0.0007, 30, '0.0416666666666667', 'co-visitation window; changing it rebuilds derived state'),
    ('decision_sample_rate', 'number', 0, 1, '1.0', 'share of decisions written to the audit log'),
    ('decision_log_user_ids', 'boolean', NULL, NULL, 'false', 'store raw user ids in the audit log next to their salted hash'),
    ('bandit_epsilon', 'number', 0, 1, '0.1', 'exploration share of the epsilon_greedy bandit'),
    ('boost_floor', 'number', 0, 1, '0.05', 'relevance a positively boosted item is lifted to before the boost multiplies it'),
    ('cold_start_category_cap', 'integer', 0, 1000, '3', 'category cap of the starter profile of users without history (0: none)');

-- Versions of each namespace's settings (only the knobs set explicitly).
CREATE TABLE recsys.namespace_config (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    version int NOT NULL,
    settings jsonb NOT NULL,
    previous jsonb NOT NULL,
    settings_hash text NOT NULL,
    author text NOT NULL,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, version)
);

-- Named knob bundles of an organisation.
CREATE TABLE recsys.profiles (
    org_id uuid NOT NULL,
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    settings jsonb NOT NULL,
    author text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);

SELECT recsys._isolate_tenants(ARRAY['namespace_config', 'profiles']);

-- Raises 22023 naming the first unknown knob, wrong type or out-of-range value in `settings`
-- (null values are allowed: they remove a knob's override).
CREATE FUNCTION recsys._check_settings(settings jsonb, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    IF settings IS NULL OR jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, not %', what, coalesce(jsonb_typeof(settings), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT s.key, s.value, k.kind, k.minimum, k.maximum INTO bad
      FROM jsonb_each(settings) s LEFT JOIN recsys.config_knobs k ON k.name = s.key
     WHERE k.name IS NULL
        OR (jsonb_typeof(s.value) <> 'null' AND (
               (k.kind = 'boolean' AND jsonb_typeof(s.value) <> 'boolean')
            OR (k.kind IN ('number', 'integer') AND jsonb_typeof(s.value) <> 'number')
            OR (k.kind = 'integer' AND jsonb_typeof(s.value) = 'number' AND s.value::numeric % 1 <> 0)
            OR (jsonb_typeof(s.value) = 'number' AND NOT s.value::numeric BETWEEN k.minimum::numeric AND k.maximum::numeric)))
     ORDER BY s.key LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF bad.kind IS NULL THEN
        RAISE EXCEPTION 'unknown knob "%" in %', bad.key, what
            USING ERRCODE = '22023', HINT = format('Known knobs: %s.', (SELECT string_agg(name, ', ' ORDER BY name) FROM recsys.config_knobs));
    END IF;
    RAISE EXCEPTION 'knob "%" in % must be %, not %', bad.key, what,
        CASE bad.kind WHEN 'boolean' THEN 'a boolean'
                      WHEN 'integer' THEN format('a whole number between %s and %s', bad.minimum, bad.maximum)
                      ELSE format('a number between %s and %s', bad.minimum, bad.maximum) END,
        bad.value
        USING ERRCODE = '22023';
END
$$;

-- The namespace's explicit settings (latest version), or {} with version 0.
CREATE FUNCTION recsys._namespace_settings(org uuid, namespace text, OUT version int, OUT settings jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT coalesce(max(c.version), 0),
           coalesce((SELECT c2.settings FROM recsys.namespace_config c2
                      WHERE c2.org_id = $1 AND c2.namespace = $2 ORDER BY c2.version DESC LIMIT 1), '{}')
      INTO version, settings
      FROM recsys.namespace_config c WHERE c.org_id = $1 AND c.namespace = $2;
END
$$;

-- Changes knobs of a namespace: settings {knob: value | null} are merged into the current
-- ones (null removes an override), validated, and stored as a new version with the author,
-- time, before/after and a hash. Changing covis_window_days rebuilds derived state.
-- Returns {version, hash, settings, changed: {knob: {before, after}}}.
CREATE FUNCTION recsys.recsys_configure(namespace text, settings jsonb, notes text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    incoming jsonb := $2;
    current_version int;
    before jsonb;
    after jsonb;
    changed jsonb;
    digest text;
BEGIN
    PERFORM recsys._check_settings(incoming, 'settings');
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    SELECT s.version, s.settings INTO current_version, before FROM recsys._namespace_settings(org, ns) s;
    after := jsonb_strip_nulls(before || incoming);
    SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('before', before -> k, 'after', after -> k)), '{}') INTO changed
      FROM (SELECT jsonb_object_keys(before) UNION SELECT jsonb_object_keys(after)) AS keys(k)
     WHERE before -> k IS DISTINCT FROM after -> k;
    digest := md5(after::text);
    IF changed = '{}' THEN
        RETURN jsonb_build_object('version', current_version, 'hash', digest, 'settings', after, 'changed', changed);
    END IF;
    INSERT INTO recsys.namespace_config (org_id, namespace, version, settings, previous, settings_hash, author, notes)
    VALUES (org, ns, current_version + 1, after, before, digest, recsys.caller_role()::regrole::text, $3);
    IF changed ? 'covis_window_days' THEN
        UPDATE recsys.namespaces n
           SET covis_window = make_interval(secs => coalesce((after ->> 'covis_window_days')::float8,
                   (SELECT default_value::text::float8 FROM recsys.config_knobs WHERE name = 'covis_window_days')) * 86400)
         WHERE n.org_id = org AND n.namespace = ns;
        PERFORM recsys.recsys_refresh(ns);
    END IF;
    RETURN jsonb_build_object('version', current_version + 1, 'hash', digest, 'settings', after, 'changed', changed);
END
$$;

-- Every knob's effective value for a namespace and where it comes from:
-- {version, hash, knobs: {knob: {value, source}}} with source "default" or "namespace".
CREATE FUNCTION recsys.recsys_config(namespace text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    current record;
BEGIN
    PERFORM recsys._require_namespace(org, ns);
    SELECT * INTO current FROM recsys._namespace_settings(org, ns);
    RETURN jsonb_build_object(
        'version', current.version,
        'hash', md5(current.settings::text),
        'knobs', (SELECT jsonb_object_agg(k.name, jsonb_build_object(
                      'value', coalesce(current.settings -> k.name, k.default_value),
                      'source', CASE WHEN current.settings ? k.name THEN 'namespace' ELSE 'default' END))
                    FROM recsys.config_knobs k));
END
$$;

-- The versions of a namespace's configuration, newest first.
CREATE FUNCTION recsys.recsys_config_history(namespace text)
    RETURNS TABLE (version int, created_at timestamptz, author text, notes text, settings_hash text,
                   settings jsonb, previous jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.version, c.created_at, c.author, c.notes, c.settings_hash, c.settings, c.previous
      FROM recsys.namespace_config c
     WHERE c.org_id = recsys.current_org() AND c.namespace = recsys._check_namespace($1)
     ORDER BY c.version DESC;
$$;

-- Saves (or replaces) a named profile of knob values for the caller's organisation.
CREATE FUNCTION recsys.recsys_save_profile(name text, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
BEGIN
    IF $1 IS NULL OR $1 !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid profile name %', coalesce(quote_literal($1), 'NULL')
            USING ERRCODE = '22023', DETAIL = 'A profile name has 1 to 64 characters from A-Z, a-z, 0-9, "_", "." and "-".';
    END IF;
    PERFORM recsys._check_settings($2, format('profile "%s"', $1));
    INSERT INTO recsys.profiles AS p (org_id, name, settings, author)
    VALUES (org, $1, jsonb_strip_nulls($2), recsys.caller_role()::regrole::text)
    ON CONFLICT (org_id, name) DO UPDATE SET settings = excluded.settings, author = excluded.author, updated_at = now();
    RETURN jsonb_build_object('profile', $1, 'settings', jsonb_strip_nulls($2));
END
$$;

-- Applies a saved profile to a namespace: its knobs are configured as one new version.
CREATE FUNCTION recsys.recsys_apply_profile(namespace text, name text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    chosen jsonb;
BEGIN
    SELECT p.settings INTO chosen FROM recsys.profiles p WHERE p.org_id = org AND p.name = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile "%" does not exist', $2 USING ERRCODE = '42704';
    END IF;
    RETURN recsys.recsys_configure($1, chosen, format('profile %s', $2));
END
$$;
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
-- Segments: named conditions over the user (traits), the request context and request fields,
-- tried in priority order; the first that matches names the user's segment ("default" when
-- none does). A segment may carry a profile of knobs, which sits between the namespace
-- configuration and a bandit policy: default < namespace < segment < policy < request.
--
-- Condition language (every node is an object with one key):
--   {"all": [c, ...]}  {"any": [c, ...]}  {"not": c}
--   {"eq"|"neq"|"gt"|"gte"|"lt"|"lte": [path, value]}   {"in": [path, [values]]}
--   {"contains": [path, value]}   {"exists": path}   {"gte_days_since": [path, days]}
-- Paths start with user. (user.user_id, user.traits.<key>...), context. or request. (request.surface).

CREATE TABLE recsys.segments (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    segment_id text COLLATE "C" NOT NULL CHECK (segment_id ~ '^[A-Za-z0-9_.:-]{1,64}$' AND segment_id <> 'default'),
    priority int NOT NULL DEFAULT 0,
    active boolean NOT NULL DEFAULT true,
    condition jsonb NOT NULL,
    profile jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, segment_id)
);
SELECT recsys._isolate_tenants(ARRAY['segments']);

-- The first problem of a condition node, as "<path>: <problem>", or NULL.
CREATE FUNCTION recsys._condition_problem(node jsonb, path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    op text;
    arg jsonb;
    problem text;
    i int;
BEGIN
    IF jsonb_typeof(node) IS DISTINCT FROM 'object' OR (SELECT count(*) FROM jsonb_object_keys(node)) <> 1 THEN
        RETURN path || ': must be an object with exactly one operator';
    END IF;
    SELECT k, v INTO op, arg FROM jsonb_each(node) AS e(k, v);
    path := path || '.' || op;
    CASE
    WHEN op IN ('all', 'any') THEN
        IF jsonb_typeof(arg) <> 'array' OR (op = 'any' AND jsonb_array_length(arg) = 0) THEN
            RETURN path || ': expects an array of conditions' || CASE WHEN op = 'any' THEN ' (at least one)' ELSE '' END;
        END IF;
        FOR i IN 0 .. jsonb_array_length(arg) - 1 LOOP
            problem := recsys._condition_problem(arg -> i, format('%s[%s]', path, i));
            IF problem IS NOT NULL THEN RETURN problem; END IF;
        END LOOP;
        RETURN NULL;
    WHEN op = 'not' THEN
        RETURN recsys._condition_problem(arg, path);
    WHEN op = 'exists' THEN
        IF jsonb_typeof(arg) = 'array' AND jsonb_array_length(arg) = 1 THEN arg := arg -> 0; END IF;
        RETURN recsys._path_problem(arg, path);
    WHEN op IN ('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'gte_days_since') THEN
        IF jsonb_typeof(arg) <> 'array' OR jsonb_array_length(arg) <> 2 THEN
            RETURN path || ': expects [path, value]';
        END IF;
        problem := recsys._path_problem(arg -> 0, path || '[0]');
        IF problem IS NOT NULL THEN RETURN problem; END IF;
        IF op = 'in' AND jsonb_typeof(arg -> 1) <> 'array' THEN
            RETURN path || '[1]: expects an array of values';
        END IF;
        IF op IN ('gt', 'gte', 'lt', 'lte') AND jsonb_typeof(arg -> 1) NOT IN ('number', 'string') THEN
            RETURN path || '[1]: expects a number or a string';
        END IF;
        IF op = 'gte_days_since' AND jsonb_typeof(arg -> 1) <> 'number' THEN
            RETURN path || '[1]: expects a number of days';
        END IF;
        IF jsonb_typeof(arg -> 1) IN ('object') THEN
            RETURN path || '[1]: expects a JSON value, not an object';
        END IF;
        RETURN NULL;
    ELSE
        RETURN format('%s: unknown operator "%s"', path, op);
    END CASE;
END
$$;

-- The problem of an operand path, or NULL.
CREATE FUNCTION recsys._path_problem(path jsonb, at text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(path) IS DISTINCT FROM 'string' THEN at || ': expects a path string such as "user.traits.tier"'
    WHEN path #>> '{}' !~ '^(user|context|request)(\.[A-Za-z0-9_-]+)+$'
        THEN format('%s: "%s" is not a path (user., context. or request. followed by keys)', at, path #>> '{}')
END;

-- Whether a valid condition holds for `doc` ({user: {user_id, traits}, context, request}); the
-- operators' semantics are in src/pg/segments.cpp and docs.
CREATE FUNCTION recsys._condition_matches(node jsonb, doc jsonb, at timestamptz) RETURNS boolean
    AS 'MODULE_PATHNAME', 'recsys_condition_matches' LANGUAGE C STABLE STRICT;

-- Creates or replaces a segment {segment_id, priority?, active?, condition, profile?: {knob: value}}.
-- An invalid condition is refused with the path of the bad node. Returns the segment.
CREATE FUNCTION recsys.recsys_upsert_segment(namespace text, segment jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    s jsonb := $2;
    condition_problem text;
BEGIN
    PERFORM recsys._raise_object_problem('segment', CASE WHEN jsonb_typeof(s) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'segment must be a JSON object']
                    ELSE coalesce(
                        recsys._unknown_field_problem(s, ARRAY['segment_id', 'priority', 'active', 'condition', 'profile']),
                        recsys._id_problem(s, 'segment_id'),
                        CASE WHEN s ->> 'segment_id' !~ '^[A-Za-z0-9_.:-]{1,64}$' OR s ->> 'segment_id' = 'default'
                             THEN ARRAY['segment_id', '22023', 'must be 1 to 64 characters from A-Z, a-z, 0-9, "_.:-" and not "default"'] END,
                        recsys._whole_problem(s, 'priority', -1000000, 1000000),
                        recsys._typed_problem(s, 'active', 'boolean'),
                        CASE WHEN NOT s ? 'condition' THEN ARRAY['condition', '22023', 'is required'] END,
                        recsys._typed_problem(s, 'profile', 'object')) END);
    condition_problem := recsys._condition_problem(s -> 'condition', 'condition');
    IF condition_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid segment condition at %', condition_problem USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_settings(coalesce(s -> 'profile', '{}'), format('segment "%s"', s ->> 'segment_id'));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.segments AS x (org_id, namespace, segment_id, priority, active, condition, profile)
    VALUES (org, ns, s ->> 'segment_id', coalesce((s ->> 'priority')::int, 0), coalesce((s -> 'active')::boolean, true),
            s -> 'condition', jsonb_strip_nulls(coalesce(s -> 'profile', '{}')))
    ON CONFLICT (org_id, namespace, segment_id) DO UPDATE SET
        priority = excluded.priority, active = excluded.active, condition = excluded.condition, profile = excluded.profile,
        updated_at = now();
    RETURN (SELECT to_jsonb(x) - 'org_id' FROM recsys.segments x
             WHERE x.org_id = org AND x.namespace = ns AND x.segment_id = s ->> 'segment_id');
END
$$;

-- The segment of a user for a request (first active match by priority, then segment_id), and its
-- profile; "default" with {} when none matches. One row. SQL without SET, so that the planner
-- inlines it into the calling statement (every name is qualified); the document the conditions
-- read (the user's traits, the context, the request) is an init plan, built only when a namespace
-- has active segments.
CREATE FUNCTION recsys._segment_of(org uuid, ns text, uid text, context jsonb, request jsonb)
    RETURNS TABLE (segment_id text, profile jsonb)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(m.segment_id, 'default'), coalesce(m.profile, '{}'::jsonb)
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
          SELECT s.segment_id, s.profile
            FROM recsys.segments s
           WHERE s.org_id = $1 AND s.namespace = $2 AND s.active
             AND recsys._condition_matches(s.condition, (
                     SELECT pg_catalog.jsonb_build_object(
                         'user', pg_catalog.jsonb_build_object('user_id', $3, 'traits',
                                     coalesce((SELECT u.traits FROM recsys.users u
                                                           WHERE u.org_id = $1 AND u.namespace = $2 AND u.user_id = $3),
                                                         '{}'::jsonb)),
                         'context', coalesce($4, '{}'::jsonb), 'request', coalesce($5, '{}'::jsonb))),
                 pg_catalog.now())
           ORDER BY s.priority DESC, s.segment_id LIMIT 1) m ON true;
$$;

-- Where a user lands: the segment id ("default" when no segment matches).
CREATE FUNCTION recsys.recsys_segment_of(namespace text, user_id text, context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    IF $2 IS NULL OR $2 = '' OR length($2) > 256 THEN
        RAISE EXCEPTION 'user_id must be a non-empty string of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce($3, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object' USING ERRCODE = '22023';
    END IF;
    RETURN (SELECT s.segment_id FROM recsys._segment_of(org, ns, $2, $3, '{}') s);
END
$$;
-- Manual overrides: a merchandiser boosts, suppresses or pins one item, optionally on one
-- surface, until an optional expiry. They act through the rule machinery (suppress blocks) and
-- stop applying at expires_at by themselves. Every creation and cancellation is kept in
-- override_history.

CREATE TABLE recsys.manual_overrides (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    override_id uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id text COLLATE "C" NOT NULL CHECK (length(item_id) BETWEEN 1 AND 256),
    action text NOT NULL CHECK (action IN ('boost', 'suppress', 'pin')),
    value float8 CHECK (value > -1 AND value <= 100),
    surface text COLLATE "C",
    expires_at timestamptz,
    notes text CHECK (length(notes) <= 2000),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    cancelled_by text,
    cancelled_at timestamptz,
    PRIMARY KEY (org_id, namespace, override_id)
);

CREATE TABLE recsys.override_history (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    override_id uuid NOT NULL,
    event text NOT NULL CHECK (event IN ('created', 'cancelled')),
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    details jsonb NOT NULL
);

SELECT recsys._isolate_tenants(ARRAY['manual_overrides', 'override_history']);

-- The first problem of an override.
CREATE FUNCTION recsys._override_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'override must be a JSON object']
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'action', 'value', 'surface', 'expires_at', 'notes', 'created_by']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN coalesce(e ->> 'action', '') NOT IN ('boost', 'suppress', 'pin')
             THEN ARRAY['action', '22023', 'must be boost, suppress or pin'] END,
        CASE WHEN e ->> 'action' = 'boost' AND NOT e ? 'value' THEN ARRAY['value', '22023', 'is required for a boost'] END,
        CASE WHEN e ? 'value' AND (jsonb_typeof(e -> 'value') <> 'number' OR (e ->> 'value')::numeric <= -1
                  OR (e ->> 'value')::numeric > 100)
             THEN ARRAY['value', '22023', 'must be a number greater than -1 and at most 100'] END,
        recsys._name_problem(e, 'surface'),
        recsys._time_problem(e, 'expires_at', true),
        CASE WHEN recsys._json_time(e -> 'expires_at') <= now() THEN ARRAY['expires_at', '22023', 'lies in the past'] END,
        recsys._string_problem(e, 'notes', 2000),
        recsys._string_problem(e, 'created_by', 256))
END;

-- Creates an override; created_by defaults to the calling role. Returns its override_id.
CREATE FUNCTION recsys.recsys_create_override(namespace text, override jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    o jsonb := $2;
    actor text := coalesce($2 ->> 'created_by', recsys.caller_role()::regrole::text);
    id uuid;
BEGIN
    PERFORM recsys._raise_object_problem('override', recsys._override_problem(o));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.manual_overrides (org_id, namespace, item_id, action, value, surface, expires_at, notes, created_by)
    VALUES (org, ns, o ->> 'item_id', o ->> 'action', (o ->> 'value')::float8, o ->> 'surface',
            recsys._json_time(o -> 'expires_at'), o ->> 'notes', actor)
    RETURNING override_id INTO id;
    INSERT INTO recsys.override_history (org_id, namespace, override_id, event, actor, details)
    VALUES (org, ns, id, 'created', actor, o);
    RETURN id;
END
$$;

-- Cancels an override (it stops applying at once). Cancelling twice, or a missing override, is
-- an error. Returns the override as it now stands.
CREATE FUNCTION recsys.recsys_cancel_override(namespace text, override_id uuid, cancelled_by text DEFAULT current_user)
    RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    actor text := coalesce($3, recsys.caller_role()::regrole::text);
    row recsys.manual_overrides;
BEGIN
    SELECT * INTO row FROM recsys.manual_overrides m
     WHERE m.org_id = org AND m.namespace = ns AND m.override_id = $2 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'override % does not exist in namespace "%"', $2, ns USING ERRCODE = '42704';
    END IF;
    IF row.cancelled_at IS NOT NULL THEN
        RAISE EXCEPTION 'override % was already cancelled by % at %', $2, row.cancelled_by, row.cancelled_at
            USING ERRCODE = '55000';
    END IF;
    UPDATE recsys.manual_overrides m SET cancelled_by = actor, cancelled_at = now()
     WHERE m.org_id = org AND m.namespace = ns AND m.override_id = $2
    RETURNING * INTO row;
    INSERT INTO recsys.override_history (org_id, namespace, override_id, event, actor, details)
    VALUES (org, ns, $2, 'cancelled', actor, '{}');
    RETURN to_jsonb(row) - 'org_id';
END
$$;

-- The overrides of every namespace, with whether each applies now.
CREATE VIEW recsys.overrides_list WITH (security_invoker = true) AS
SELECT org_id, namespace, override_id, item_id, action, value, surface, expires_at, notes, created_by, created_at,
       cancelled_by, cancelled_at,
       cancelled_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS active_now
  FROM recsys.manual_overrides;
-- Merchandising rules: block, pin and boost items chosen by ids, tag, brand or category, scoped
-- by surface, segment and validity window, ordered by priority. Block always wins; pins take
-- the first slots in rule-priority order (at most max_pins per rule, pin_slots per request);
-- boosts multiply the score by (1 + boost) and compound.

CREATE TABLE recsys.rules (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    rule_id uuid NOT NULL DEFAULT gen_random_uuid(),
    action text NOT NULL CHECK (action IN ('block', 'pin', 'boost')),
    target jsonb NOT NULL,
    boost float8 CHECK (boost > -1 AND boost <= 100),
    max_pins int NOT NULL DEFAULT 1 CHECK (max_pins BETWEEN 1 AND 100),
    surface text COLLATE "C",
    segment text COLLATE "C",
    valid_from timestamptz,
    valid_until timestamptz CHECK (valid_until > valid_from),
    priority int NOT NULL DEFAULT 0,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, rule_id)
);
SELECT recsys._isolate_tenants(ARRAY['rules']);

-- The rules of every namespace, with whether each applies now.
CREATE VIEW recsys.rules_list WITH (security_invoker = true) AS
SELECT org_id, namespace, rule_id, action, target, boost, max_pins, surface, segment, valid_from, valid_until,
       priority, enabled, created_at, updated_at,
       enabled AND (valid_from IS NULL OR valid_from <= now()) AND (valid_until IS NULL OR valid_until > now()) AS active_now
  FROM recsys.rules;

-- The first problem of a rule.
CREATE FUNCTION recsys._rule_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'rule must be a JSON object']
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['rule_id', 'action', 'target', 'boost', 'max_pins', 'surface', 'segment',
                                               'valid_from', 'valid_until', 'priority', 'enabled']),
        CASE WHEN e ? 'rule_id' AND (jsonb_typeof(e -> 'rule_id') <> 'string'
                  OR e ->> 'rule_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
             THEN ARRAY['rule_id', '22P02', 'must be a UUID'] END,
        CASE WHEN coalesce(e ->> 'action', '') NOT IN ('block', 'pin', 'boost')
             THEN ARRAY['action', '22023', 'must be block, pin or boost'] END,
        CASE WHEN jsonb_typeof(e -> 'target') IS DISTINCT FROM 'object'
             THEN ARRAY['target', '22023', 'must be an object with one of item_ids, tag, brand, category']
             WHEN (SELECT count(*) FROM jsonb_object_keys(e -> 'target')) <> 1
               OR NOT (e -> 'target') ?| ARRAY['item_ids', 'tag', 'brand', 'category']
             THEN ARRAY['target', '22023', 'must have exactly one of item_ids, tag, brand, category'] END,
        CASE WHEN (e -> 'target') ? 'item_ids' AND (jsonb_typeof(e -> 'target' -> 'item_ids') <> 'array'
                  OR jsonb_array_length(e -> 'target' -> 'item_ids') NOT BETWEEN 1 AND 1000
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(e -> 'target' -> 'item_ids') x
                              WHERE jsonb_typeof(x) <> 'string' OR length(x #>> '{}') NOT BETWEEN 1 AND 256))
             THEN ARRAY['target', '22023', 'item_ids must be an array of 1 to 1000 item ids'] END,
        CASE WHEN NOT (e -> 'target') ? 'item_ids' AND (SELECT jsonb_typeof(v) <> 'string' OR v #>> '{}' = ''
                                                          FROM jsonb_each(e -> 'target') x(k, v))
             THEN ARRAY['target', '22023', 'tag, brand and category must be non-empty strings'] END,
        CASE WHEN e ->> 'action' = 'boost' AND NOT e ? 'boost' THEN ARRAY['boost', '22023', 'is required for a boost rule'] END,
        CASE WHEN e ? 'boost' AND (jsonb_typeof(e -> 'boost') <> 'number' OR (e ->> 'boost')::numeric <= -1
                  OR (e ->> 'boost')::numeric > 100)
             THEN ARRAY['boost', '22023', 'must be a number greater than -1 and at most 100'] END,
        recsys._whole_problem(e, 'max_pins', 1, 100),
        recsys._name_problem(e, 'surface'),
        recsys._name_problem(e, 'segment'),
        recsys._time_problem(e, 'valid_from', true),
        recsys._time_problem(e, 'valid_until', true),
        CASE WHEN recsys._json_time(e -> 'valid_until') <= recsys._json_time(e -> 'valid_from')
             THEN ARRAY['valid_until', '22023', 'must be later than valid_from'] END,
        recsys._whole_problem(e, 'priority', -1000000, 1000000),
        recsys._typed_problem(e, 'enabled', 'boolean'))
END;

-- Creates a rule, or replaces the rule with the given rule_id. Returns its rule_id.
CREATE FUNCTION recsys.recsys_upsert_rule(namespace text, rule jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    r jsonb := $2;
    id uuid;
BEGIN
    PERFORM recsys._raise_object_problem('rule', recsys._rule_problem(r));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.rules AS x (org_id, namespace, rule_id, action, target, boost, max_pins, surface, segment,
                                   valid_from, valid_until, priority, enabled)
    VALUES (org, ns, coalesce((r ->> 'rule_id')::uuid, gen_random_uuid()), r ->> 'action', r -> 'target',
            (r ->> 'boost')::float8, coalesce((r ->> 'max_pins')::int, 1), r ->> 'surface', r ->> 'segment',
            recsys._json_time(r -> 'valid_from'), recsys._json_time(r -> 'valid_until'),
            coalesce((r ->> 'priority')::int, 0), coalesce((r -> 'enabled')::boolean, true))
    ON CONFLICT (org_id, namespace, rule_id) DO UPDATE SET
        action = excluded.action, target = excluded.target, boost = excluded.boost, max_pins = excluded.max_pins,
        surface = excluded.surface, segment = excluded.segment, valid_from = excluded.valid_from,
        valid_until = excluded.valid_until, priority = excluded.priority, enabled = excluded.enabled, updated_at = now()
    RETURNING rule_id INTO id;
    RETURN id;
END
$$;

-- Deletes a rule; raises 42704 when it does not exist.
CREATE FUNCTION recsys.recsys_delete_rule(namespace text, rule_id uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    DELETE FROM recsys.rules r WHERE r.org_id = org AND r.namespace = ns AND r.rule_id = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rule % does not exist in namespace "%"', $2, ns USING ERRCODE = '42704';
    END IF;
    RETURN true;
END
$$;

-- True when a rule target matches an item (recsys_explain_item; serving matches targets in the
-- catalogue cache, which an audit call should not have to load).
CREATE FUNCTION recsys._rule_matches(target jsonb, item_id text, tags text[], brand text, category text) RETURNS boolean
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN target ? 'item_ids' THEN target -> 'item_ids' ? item_id
    WHEN target ? 'tag' THEN (target ->> 'tag') = ANY (tags)
    WHEN target ? 'brand' THEN brand = target ->> 'brand'
    ELSE category = target ->> 'category'
END;

-- The rules that apply to a request: enabled, valid at `at`, for this surface (or every
-- surface) and segment (or every segment); and the manual overrides in force at `at`, as rules
-- (suppress blocks; an override outranks every rule of the same action: priority 2^31 - 1).
-- Without a SET clause, so that the planner inlines it into the (plan-cached) caller; every
-- name in it is schema-qualified.
CREATE FUNCTION recsys._active_rules(org uuid, ns text, surface text, segment text, at timestamptz)
    RETURNS SETOF recsys.rules
LANGUAGE sql STABLE
AS $$
    SELECT * FROM recsys.rules r
     WHERE r.org_id = $1 AND r.namespace = $2 AND r.enabled
       AND (r.surface IS NULL OR r.surface = $3) AND (r.segment IS NULL OR r.segment = $4)
       AND (r.valid_from IS NULL OR r.valid_from <= $5) AND (r.valid_until IS NULL OR r.valid_until > $5)
    UNION ALL
    SELECT m.org_id, m.namespace, m.override_id, CASE m.action WHEN 'suppress' THEN 'block' ELSE m.action END,
           jsonb_build_object('item_ids', jsonb_build_array(m.item_id)), m.value, 1, m.surface, NULL, m.created_at,
           m.expires_at, 2147483647, true, m.created_at, m.created_at
      FROM recsys.manual_overrides m
     WHERE m.org_id = $1 AND m.namespace = $2 AND m.cancelled_at IS NULL
       AND (m.surface IS NULL OR m.surface = $3) AND (m.expires_at IS NULL OR m.expires_at > $5);
$$;

-- The active rules as the parallel arrays the C functions take (see src/pg/rules.hpp): one
-- element per rule, by priority (highest first), then rule_id, and the ids the targets name with
-- the (1-based) rule naming each. C (src/pg/rules.cpp): one prepared query over _active_rules,
-- the arrays built there; aggregating them in SQL cost about 0.07 ms more per request with 20
-- rules.
CREATE FUNCTION recsys._active_rule_arrays(org uuid, ns text, surface text, segment text, at timestamptz,
        OUT rule_ids text[], OUT actions text[], OUT boosts float8[], OUT priorities int[], OUT max_pins int[], OUT tags text[],
        OUT brands text[], OUT categories text[], OUT target_rules int[], OUT target_ids text[])
    AS 'MODULE_PATHNAME', 'recsys_active_rule_arrays' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- The effect of the rule arrays on the given items (src/pg/rules.cpp): the items some rule names,
-- each once, with blocked, the boost factor and the matching rules.
CREATE FUNCTION recsys._apply_rules(org uuid, ns text, item_ids text[], rule_ids text[], actions text[], boosts float8[],
        priorities int[], max_pins int[], tags text[], brands text[], categories text[], target_rules int[], target_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
    AS 'MODULE_PATHNAME', 'recsys_apply_rules' LANGUAGE C STABLE;

-- The items the pin rules of the rule arrays pin, in pin order (pin from 0), at most `slots`
-- (src/core/rules.cpp: pinned_items).
CREATE FUNCTION recsys._pin_rule_items(org uuid, ns text, slots int, rule_ids text[], actions text[], boosts float8[],
        priorities int[], max_pins int[], tags text[], brands text[], categories text[], target_rules int[],
        target_ids text[])
    RETURNS TABLE (item_id text, pin int)
    AS 'MODULE_PATHNAME', 'recsys_pin_rule_items' LANGUAGE C STABLE;

-- Effects of the active rules on those of the given items that some rule names: blocked, boost
-- factor, and the matching rules by priority (an id missing from the catalogue can still match a
-- rule that names it in item_ids).
CREATE FUNCTION recsys._rule_hits(org uuid, ns text, surface text, segment text, at timestamptz, item_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.* FROM recsys._active_rule_arrays($1, $2, $3, $4, $5) a,
           recsys._apply_rules($1, $2, $6, a.rule_ids, a.actions, a.boosts, a.priorities, a.max_pins, a.tags, a.brands,
                               a.categories, a.target_rules, a.target_ids) h;
$$;

-- Effects of the active rules on every given item (see _rule_hits; no rule: not blocked, factor 1).
CREATE FUNCTION recsys._rule_effects(org uuid, ns text, surface text, segment text, at timestamptz, item_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.item_id, coalesce(h.blocked, false), coalesce(h.factor, 1), coalesce(h.rules, '[]')
      FROM (SELECT DISTINCT x AS item_id FROM unnest($6) x) u
      LEFT JOIN recsys._rule_hits($1, $2, $3, $4, $5, $6) h ON h.item_id = u.item_id;
$$;

-- The pinned items of a request, in pin order: pin rules by priority (then rule_id), each rule's
-- items in the order of its item_ids or by item_id, at most max_pins per rule; only existing,
-- available items that no active rule blocks; at most `slots` in all.
CREATE FUNCTION recsys._pinned_items(org uuid, ns text, surface text, segment text, at timestamptz, slots int)
    RETURNS TABLE (item_id text, pin int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.* FROM recsys._active_rule_arrays($1, $2, $3, $4, $5) a,
           recsys._pin_rule_items($1, $2, $6, a.rule_ids, a.actions, a.boosts, a.priorities, a.max_pins, a.tags, a.brands,
                                  a.categories, a.target_rules, a.target_ids) p;
$$;

-- What the active rules of a surface (and segment) do to the given items:
-- {item_id: {blocked, boost_factor, pinned_at (1-based or null), rules: [{rule_id, action, priority}]}}.
CREATE FUNCTION recsys.recsys_rules_dry_run(namespace text, surface text, item_ids text[], segment text DEFAULT NULL)
    RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    slots int;
BEGIN
    IF $3 IS NULL THEN
        RAISE EXCEPTION 'item_ids must be an array' USING ERRCODE = '22023';
    END IF;
    SELECT coalesce(st.settings -> 'pin_slots', k.default_value)::text::int INTO slots
      FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st WHERE k.name = 'pin_slots';
    RETURN coalesce((
        SELECT jsonb_object_agg(e.item_id, jsonb_build_object(
                   'blocked', e.blocked, 'boost_factor', e.factor,
                   'pinned_at', (SELECT p.pin + 1 FROM recsys._pinned_items(org, ns, $2, $4, now(), slots) p
                                  WHERE p.item_id = e.item_id),
                   'rules', e.rules))
          FROM recsys._rule_effects(org, ns, $2, $4, now(), $3) e), '{}');
END
$$;

-- The first problem of one candidate of recsys_apply_rules.
CREATE FUNCTION recsys._scored_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'score']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'score' THEN ARRAY['score', '22023', 'is required'] END,
        recsys._number_problem(e, 'score', NULL))
END;

-- Applies the namespace's active rules for `surface` to a scored list [{item_id, score}]:
-- blocked items go, scores are multiplied by the boost factors, pinned items (which need not be
-- in the list) come first; the rest by boosted score, ties by item_id. Option: pin_slots.
CREATE FUNCTION recsys.recsys_apply_rules(namespace text, candidates jsonb, surface text DEFAULT 'default',
                                          options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    slots int;
    at timestamptz := now();
BEGIN
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate', 'recsys._scored_problem(e)', 'item_id');
    PERFORM recsys._check_surface($3);
    PERFORM recsys._check_filter(coalesce($4, 'null'), ARRAY['pin_slots'], 'options');
    SELECT coalesce($4 -> 'pin_slots', st.settings -> 'pin_slots', k.default_value)::text::int INTO slots
      FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st WHERE k.name = 'pin_slots';
    PERFORM recsys._option_int(jsonb_build_object('pin_slots', slots), 'pin_slots', 0, 100, 3);
    RETURN QUERY
    WITH listed AS (
        SELECT e ->> 'item_id' AS item_id, (e ->> 'score')::float8 AS score FROM jsonb_array_elements(payload) e),
    pins AS (SELECT p.item_id, p.pin FROM recsys._pinned_items(org, ns, $3, NULL, at, slots) p),
    effects AS (
        SELECT * FROM recsys._rule_effects(org, ns, $3, NULL, at,
                                          ARRAY(SELECT l.item_id FROM listed l UNION SELECT p.item_id FROM pins p))),
    ordered AS (
        SELECT p.item_id, coalesce(l.score, 1) AS score, ARRAY['rule:pin'] AS reasons, 0 AS grp, p.pin::float8 AS key
          FROM pins p LEFT JOIN listed l ON l.item_id = p.item_id
        UNION ALL
        SELECT l.item_id, l.score * f.factor,
               CASE WHEN f.factor > 1 THEN ARRAY['rule:boost'] WHEN f.factor < 1 THEN ARRAY['rule:demote'] ELSE '{}' END,
               1, -(l.score * f.factor)
          FROM listed l JOIN effects f ON f.item_id = l.item_id
         WHERE NOT f.blocked AND l.item_id NOT IN (SELECT p.item_id FROM pins p))
    SELECT (row_number() OVER (ORDER BY o.grp, o.key, o.item_id))::int, o.item_id, o.score, o.reasons
      FROM ordered o
     ORDER BY o.grp, o.key, o.item_id;
END
$$;
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
-- Composable ranking primitives over caller-supplied candidate lists (jsonb in, table out).
-- They share the C++ core with recsys_rank and touch no tenant data.

CREATE FUNCTION recsys._mmr(item_ids text[], relevance float8[], brands text[], categories text[], tags text[],
                            embeddings real[], dim int, k int, lambda float8, brand_cap int, category_cap int)
    RETURNS TABLE (idx int, max_similarity float8, mmr_score float8)
    AS 'MODULE_PATHNAME', 'recsys_mmr_internal' LANGUAGE C IMMUTABLE;

CREATE FUNCTION recsys._blend(signals float8[], rows int, weights float8[], OUT scores float8[], OUT normalized float8[])
    AS 'MODULE_PATHNAME', 'recsys_blend_internal' LANGUAGE C IMMUTABLE STRICT;

-- The first problem of one MMR candidate.
CREATE FUNCTION recsys._candidate_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'score', 'brand', 'category', 'tags', 'embedding']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'score' THEN ARRAY['score', '22023', 'is required'] END,
        recsys._number_problem(e, 'score', NULL),
        recsys._string_problem(e, 'brand', 256),
        recsys._string_problem(e, 'category', 256),
        recsys._tags_problem(e),
        recsys._embedding_problem(e, dim))
END;

-- Raises unless `value` is a whole number in [low, high]; returns it (or `fallback` when NULL).
CREATE FUNCTION recsys._option_int(options jsonb, name text, low int, high int, fallback int) RETURNS int
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF options -> name IS NULL OR jsonb_typeof(options -> name) = 'null' THEN
        RETURN fallback;
    END IF;
    IF jsonb_typeof(options -> name) <> 'number' OR (options ->> name)::numeric % 1 <> 0
       OR (options ->> name)::numeric NOT BETWEEN low AND high THEN
        RAISE EXCEPTION 'option "%" must be a whole number between % and %, not %', name, low, high, options -> name
            USING ERRCODE = '22023';
    END IF;
    RETURN (options ->> name)::int;
END
$$;

-- Raises unless `value` is a number in [low, high]; returns it (or `fallback` when NULL).
CREATE FUNCTION recsys._option_number(options jsonb, name text, low float8, high float8, fallback float8) RETURNS float8
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF options -> name IS NULL OR jsonb_typeof(options -> name) = 'null' THEN
        RETURN fallback;
    END IF;
    IF jsonb_typeof(options -> name) <> 'number' OR (options ->> name)::numeric NOT BETWEEN low AND high THEN
        RAISE EXCEPTION 'option "%" must be a number between % and %, not %', name, low, high, options -> name
            USING ERRCODE = '22023';
    END IF;
    RETURN (options ->> name)::float8;
END
$$;

-- MMR over a candidate list [{item_id, score, brand?, category?, tags?[], embedding?[]}]:
-- scores are min-max normalised, then items are picked greedily by
-- mmr_lambda * score - (1 - mmr_lambda) * (max similarity to the items already picked), within
-- hard brand/category caps. Similarity is embedding cosine where both items have embeddings, else
-- Jaccard over tags, brand and category. Rows come in pick order; `score` is the caller's score;
-- reasons hold "diversity" when the item was picked ahead of a higher-scored one.
-- Options: mmr_lambda (0.7), brand_cap (0: none), category_cap (0: none).
CREATE FUNCTION recsys.recsys_mmr(candidates jsonb, k int DEFAULT 20, options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    payload jsonb := $1;
    opts jsonb := $3;
    dim int;
    lambda float8;
    brand_cap int;
    category_cap int;
BEGIN
    PERFORM recsys._check_batch(payload, 'candidates');
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', coalesce(k::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_filter(opts, ARRAY['mmr_lambda', 'brand_cap', 'category_cap'], 'options');
    lambda := recsys._option_number(opts, 'mmr_lambda', 0, 1, 0.7);
    brand_cap := recsys._option_int(opts, 'brand_cap', 0, 1000, 0);
    category_cap := recsys._option_int(opts, 'category_cap', 0, 1000, 0);
    SELECT jsonb_array_length(e -> 'embedding') INTO dim
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
     WHERE jsonb_typeof(e) = 'object' AND jsonb_typeof(e -> 'embedding') = 'array' ORDER BY i LIMIT 1;
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate',
                                  format('recsys._candidate_problem(e, %s)', coalesce(dim::text, 'NULL')), 'item_id');
    RETURN QUERY
    WITH c AS (
        SELECT i::int AS idx, e ->> 'item_id' AS item_id, (e ->> 'score')::float8 AS score, e
          FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)),
    picks AS (
        SELECT row_number() OVER ()::int AS pick, m.idx
          FROM recsys._mmr(
                   (SELECT array_agg(c.item_id ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.score ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.e ->> 'brand' ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.e ->> 'category' ORDER BY c.idx) FROM c),
                   (SELECT array_agg((SELECT string_agg(t, E'\x1f') FROM jsonb_array_elements_text(
                                          CASE WHEN jsonb_typeof(c.e -> 'tags') = 'array' THEN c.e -> 'tags' ELSE '[]' END) t)
                                     ORDER BY c.idx) FROM c),
                   CASE WHEN dim IS NULL THEN NULL ELSE
                   (SELECT array_agg(v ORDER BY c.idx, x.n)
                      FROM c CROSS JOIN LATERAL (
                           SELECT n, CASE WHEN jsonb_typeof(c.e -> 'embedding') = 'array'
                                          THEN (c.e -> 'embedding' ->> (n - 1))::real END AS v
                             FROM generate_series(1, dim) n) x) END,
                   coalesce(dim, 0), k, lambda, brand_cap, category_cap) m)
    SELECT p.pick, c.item_id, c.score,
           CASE WHEN EXISTS (SELECT 1 FROM c later JOIN picks lp ON lp.idx = later.idx
                              WHERE lp.pick > p.pick AND later.score > c.score)
                  OR EXISTS (SELECT 1 FROM c skipped WHERE skipped.score > c.score
                                AND NOT EXISTS (SELECT 1 FROM picks sp WHERE sp.idx = skipped.idx))
                THEN ARRAY['relevance', 'diversity'] ELSE ARRAY['relevance'] END
      FROM picks p JOIN c ON c.idx = p.idx
     ORDER BY p.pick;
END
$$;

-- Blends signals of a candidate list [{item_id, signals: {name: number|null}}] with weights
-- {name: number}: each weighted signal is min-max normalised over the list (missing = 0) and
-- score = sum(weight * normalised signal). Rows by score, ties by item_id; `signals` holds the
-- normalised values. Signals without a weight are ignored.
CREATE FUNCTION recsys.recsys_blend(candidates jsonb, weights jsonb)
    RETURNS TABLE (item_id text, score float8, signals jsonb)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    payload jsonb := $1;
    w jsonb := $2;
    names text[];
    bad text;
    result record;
BEGIN
    IF w IS NULL OR jsonb_typeof(w) <> 'object' OR w = '{}' THEN
        RAISE EXCEPTION 'weights must be a non-empty JSON object of numbers' USING ERRCODE = '22023';
    END IF;
    SELECT k INTO bad FROM jsonb_each(w) x(k, v) WHERE jsonb_typeof(v) <> 'number' OR abs(v::numeric) > 1e6 ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'weight "%" must be a number between -1000000 and 1000000, not %', bad, w -> bad USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate', 'recsys._blend_candidate_problem(e)', 'item_id');
    names := ARRAY(SELECT jsonb_object_keys(w) ORDER BY 1);
    SELECT * INTO result FROM recsys._blend(
        coalesce((SELECT array_agg(coalesce((e -> 'signals' ->> n)::float8, 'NaN') ORDER BY i, k)
                    FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i), unnest(names) WITH ORDINALITY u(n, k)), '{}'),
        jsonb_array_length(payload),
        ARRAY(SELECT (w ->> n)::float8 FROM unnest(names) WITH ORDINALITY u(n, k) ORDER BY k));
    RETURN QUERY
    SELECT e ->> 'item_id', result.scores[i],
           (SELECT jsonb_object_agg(n, result.normalized[(i - 1) * cardinality(names) + k])
              FROM unnest(names) WITH ORDINALITY u(n, k))
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
     ORDER BY 2 DESC, 1;
END
$$;

-- The first problem of one blend candidate.
CREATE FUNCTION recsys._blend_candidate_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'signals']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN jsonb_typeof(e -> 'signals') IS DISTINCT FROM 'object' THEN ARRAY['signals', '22023', 'must be an object of numbers'] END,
        (SELECT ARRAY['signals', '22023', format('value "%s" must be a number or null, not %s', k, jsonb_typeof(v))]
           FROM jsonb_each(e -> 'signals') x(k, v)
          WHERE jsonb_typeof(v) NOT IN ('number', 'null') ORDER BY k LIMIT 1),
        (SELECT ARRAY['signals', '22003', format('value "%s" is out of range', k)]
           FROM jsonb_each(e -> 'signals') x(k, v)
          WHERE jsonb_typeof(v) = 'number' AND abs(v::numeric) >= 1e300 ORDER BY k LIMIT 1))
END;
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
-- pg_dump/pg_restore: the extension's tables that hold tenant data and configuration have their
-- rows dumped (pg_extension_config_dump); the extension's own reference data (config_knobs,
-- default_event_types) comes back with CREATE EXTENSION. Monthly event partitions and daily
-- decision partitions are created at run time, are not members of the extension, and are dumped
-- like any table. items, users and event_types reference namespaces, so pg_dump restores
-- namespaces first and the ingestion triggers find them (see docs/operations.md).
DO $dump$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY[
            'role_orgs', 'namespaces', 'event_types', 'items', 'users', 'events_default', 'event_ids',
            'item_popularity', 'user_items', 'covis', 'namespace_config', 'profiles', 'segments', 'rules',
            'manual_overrides', 'override_history', 'bandit_policies', 'bandit_surfaces', 'bandit_stats',
            'bandit_decisions', 'decision_salts', 'factor_models', 'item_factors', 'user_factors', 'embedding_indexes', 'evaluations', 'tuning_runs', 'guardrail_settings',
            'event_seq', 'catalog_epochs'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(('recsys.' || table_name)::regclass, '');
    END LOOP;
END
$dump$;
-- Privileges: nothing for PUBLIC; each role gets what its job needs. Internal functions
-- (named with a leading underscore) are called only by the extension's own functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA recsys FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA recsys FROM PUBLIC;

-- Used by RLS policies and column defaults, so every role that touches a table needs it.
GRANT EXECUTE ON FUNCTION recsys.current_org() TO recsys_reader, recsys_auditor;

GRANT EXECUTE ON FUNCTION recsys.recsys_rank(text, text, int, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.items, recsys.users, recsys.namespaces, recsys.event_types TO recsys_reader;

GRANT EXECUTE ON FUNCTION
    recsys.recsys_upsert_items(text, jsonb), recsys.recsys_upsert_users(text, jsonb),
    recsys.recsys_record_events(text, jsonb), recsys.recsys_delete_items(text, jsonb),
    recsys.recsys_delete_users(text, jsonb), recsys.recsys_delete_events(text, jsonb)
    TO recsys_writer;
GRANT INSERT, UPDATE, DELETE ON recsys.items, recsys.users TO recsys_writer;
GRANT SELECT, INSERT, DELETE ON recsys.events TO recsys_writer;
GRANT USAGE ON SEQUENCE recsys.event_seq TO recsys_writer;

GRANT EXECUTE ON FUNCTION
    recsys.recsys_refresh(text), recsys.recsys_reset_namespace(text, boolean),
    recsys.recsys_upsert_event_types(text, jsonb), recsys.recsys_seed_synthetic(text, jsonb),
    recsys.recsys_map_role(regrole, uuid), recsys.recsys_unmap_role(regrole)
    TO recsys_admin;
GRANT SELECT ON recsys.item_popularity, recsys.user_items, recsys.user_tags, recsys.covis, recsys.item_neighbours,
    recsys.event_ids
    TO recsys_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON recsys.event_types TO recsys_admin;

-- Pure primitives over caller-supplied lists.
GRANT EXECUTE ON FUNCTION recsys.recsys_mmr(jsonb, int, jsonb), recsys.recsys_blend(jsonb, jsonb) TO recsys_reader;

-- Configuration: readers see it, admins change it.
GRANT EXECUTE ON FUNCTION recsys.recsys_config(text), recsys.recsys_config_history(text) TO recsys_reader, recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_configure(text, jsonb, text), recsys.recsys_save_profile(text, jsonb),
    recsys.recsys_apply_profile(text, text) TO recsys_admin;
GRANT SELECT ON recsys.config_knobs TO recsys_reader, recsys_auditor;

-- Bandits: applications decide, recommend and reward; admins manage policies and holdouts.
GRANT EXECUTE ON FUNCTION recsys.recsys_bandit_decide(text, text, jsonb, text[], text),
    recsys.recsys_bandit_recommend(text, text, int, text, jsonb, jsonb, text[], text, boolean),
    recsys.recsys_bandit_select(jsonb, text, jsonb) TO recsys_reader;
GRANT EXECUTE ON FUNCTION recsys.recsys_bandit_reward(text, text, float8) TO recsys_writer;
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_policies(text, jsonb), recsys.recsys_bandit_holdout(text, text, float8)
    TO recsys_admin;
GRANT SELECT ON recsys.bandit_policies, recsys.bandit_lift TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.bandit_stats, recsys.bandit_decisions TO recsys_admin, recsys_auditor;

-- Serving beyond recsys_rank.
GRANT EXECUTE ON FUNCTION recsys.recsys_rerank(text, text, text[], int, text, jsonb), recsys.recsys_recommend(text, jsonb)
    TO recsys_reader;

-- Rules: merchandisers (admins) manage them; applications may dry-run and apply them.
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_rule(text, jsonb), recsys.recsys_delete_rule(text, uuid) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_rules_dry_run(text, text, text[], text),
    recsys.recsys_apply_rules(text, jsonb, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.rules_list TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.rules TO recsys_reader, recsys_auditor;

-- Manual overrides: merchandisers (admins) create and cancel; readers and auditors see them.
GRANT EXECUTE ON FUNCTION recsys.recsys_create_override(text, jsonb), recsys.recsys_cancel_override(text, uuid, text)
    TO recsys_admin;
GRANT SELECT ON recsys.overrides_list, recsys.override_history TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.manual_overrides TO recsys_reader, recsys_auditor;

-- Segments: admins define them; applications ask where a user lands.
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_segment(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_segment_of(text, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.segments TO recsys_reader, recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_similar_items(text, text, int, jsonb) TO recsys_reader;

-- Audit trail: auditors (and admins) read their organisation's decisions; admins run retention.
GRANT EXECUTE ON FUNCTION recsys.recsys_decisions(text, timestamptz, timestamptz, text, text, int, text, text),
    recsys.recsys_decision(text), recsys.recsys_explain_item(text, text, timestamptz) TO recsys_auditor;
GRANT SELECT ON recsys.rec_decisions, recsys.top_served_items TO recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys._metrics_window_minutes() TO recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_maintain_decisions() TO recsys_admin;

-- Telemetry: the exporter's role reads the metrics of every organisation (aggregates only).
GRANT EXECUTE ON FUNCTION recsys._metrics_window_minutes(), recsys._skipped_decisions(), recsys._popular_head(uuid, text)
    TO recsys_monitor;
GRANT SELECT ON recsys.metrics TO recsys_monitor;

-- Collaborative filtering: admins train; they see their organisation's running trainings.
GRANT EXECUTE ON FUNCTION recsys.recsys_train_factors(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_build_embedding_index(text, jsonb), recsys.recsys_drop_embedding_index(text)
    TO recsys_admin;
GRANT SELECT ON recsys.embedding_indexes TO recsys_admin;
GRANT SELECT ON recsys.training_progress, recsys.factor_models TO recsys_admin;

-- Evaluation, guardrails and tuning: admins run them; auditors read the results.
GRANT EXECUTE ON FUNCTION recsys.recsys_evaluate(text, jsonb), recsys.recsys_tune(text, jsonb, jsonb),
    recsys.recsys_set_guardrails(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_check_guardrails(text, jsonb) TO recsys_admin, recsys_auditor;
GRANT SELECT ON recsys.evaluations, recsys.tuning_runs TO recsys_admin, recsys_auditor;
