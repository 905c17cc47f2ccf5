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
