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
