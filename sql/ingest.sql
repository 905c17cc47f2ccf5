-- Ingestion happy paths and the derived state they maintain, with exact values.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;
SET recsys.org_id = '10000000-0000-0000-0000-000000000003';

SELECT recsys.recsys_upsert_items('shop', '[
  {"item_id": "a", "tags": ["red", "shoe", "red"], "brand": "Acme", "category": "shoes", "price": 10, "embedding": [1, 0, 0]},
  {"item_id": "b", "tags": ["blue"], "price": 20.5, "available": false},
  {"item_id": "c", "props": {"margin": 0.3}, "created_at": "2026-01-01T00:00:00Z"}]');
-- Fields left out keep their stored values; an explicit null clears.
SELECT recsys.recsys_upsert_items('shop', '[{"item_id": "a", "price": 12}, {"item_id": "b", "price": null}]');
SELECT item_id, available, price, brand, category, tags, props, embedding FROM recsys.items
 WHERE namespace = 'shop' ORDER BY item_id;
SELECT namespace, embedding_dim FROM recsys.namespaces WHERE namespace = 'shop';

SELECT recsys.recsys_upsert_users('shop', '[{"user_id": "u1", "traits": {"tier": "gold"}}, {"user_id": "u2"}]');
SELECT recsys.recsys_upsert_users('shop', '[{"user_id": "u2", "traits": {"tier": "silver"}}]');
SELECT user_id, traits FROM recsys.users WHERE namespace = 'shop' ORDER BY user_id;

-- Types by name or number; ts as ISO text or seconds since 1970; a repeated event_id is a
-- duplicate, inside the batch and across calls.
SELECT recsys.recsys_record_events('shop', '[
  {"user_id": "u1", "item_id": "a", "type": "view", "ts": "2026-03-01T10:00:00Z", "event_id": "e1"},
  {"user_id": "u1", "item_id": "c", "type": 3, "ts": 1772359500, "event_id": "e2", "value": 2, "meta": {"page": "home"}},
  {"user_id": "u1", "item_id": "a", "type": "click", "ts": "2026-03-01T10:00:00Z", "event_id": "e1"},
  {"user_id": "u2", "item_id": "a", "type": "add", "ts": "2026-03-05T00:00:00Z"}]');
SELECT recsys.recsys_record_events('shop', '[{"user_id": "u1", "item_id": "a", "type": "view", "ts": "2026-03-01T10:00:00Z", "event_id": "e1"}]');
SELECT event_id, user_id, item_id, type, value, ts, meta FROM recsys.events WHERE namespace = 'shop' ORDER BY seq;

-- Derived state: interacted items, tag profiles, co-visitation (u1's two events are 5 minutes
-- apart, inside the default one-hour window).
SELECT user_id, item_id, events, weight, last_ts FROM recsys.user_items WHERE namespace = 'shop' ORDER BY 1, 2;
SELECT user_id, tag, round(weight::numeric, 6) AS weight FROM recsys.user_tags WHERE namespace = 'shop' ORDER BY 1, 2;
SELECT item_a, item_b, pairs FROM recsys.covis WHERE namespace = 'shop' ORDER BY 1, 2;
-- Decayed popularity at a fixed time: a view (0.1, half-life 7 days) 7 days later is worth 0.05.
SELECT item_id, round(score::numeric, 6) AS score
  FROM recsys._popularity_at('10000000-0000-0000-0000-000000000003', 'shop', '2026-03-08T10:00:00Z') ORDER BY 1;

-- Changing an item's tags moves its users' tag weights.
SELECT recsys.recsys_upsert_items('shop', '[{"item_id": "a", "tags": ["red", "sale"]}]');
SELECT user_id, tag, round(weight::numeric, 6) AS weight FROM recsys.user_tags WHERE namespace = 'shop' ORDER BY 1, 2;

-- Deleting events withdraws them from every derived table.
SELECT recsys.recsys_delete_events('shop', '{"user_ids": ["u2"]}');
SELECT user_id, item_id, events FROM recsys.user_items WHERE namespace = 'shop' ORDER BY 1, 2;
SELECT user_id, tag FROM recsys.user_tags WHERE namespace = 'shop' ORDER BY 1, 2;
SELECT recsys.recsys_delete_events('shop', '{"event_ids": ["e2"]}');
SELECT count(*) AS covis_rows FROM recsys.covis WHERE namespace = 'shop';
-- A deleted event_id may be recorded again.
SELECT recsys.recsys_record_events('shop', '[{"user_id": "u1", "item_id": "c", "type": "purchase", "ts": "2026-03-01T10:05:00Z", "event_id": "e2"}]');

-- Serving (popularity until the ranking pipeline lands): unavailable items never appear.
SELECT rank, item_id, reasons FROM recsys.recsys_rank('shop', 'u1', 10);
SELECT rank, item_id FROM recsys.recsys_rank('shop', 'u1', 10, 'home', '{"exclude_seen": true}');

-- Custom event types change weights and rebuild derived state.
SELECT jsonb_path_query_array(recsys.recsys_upsert_event_types('shop', '[{"name": "like", "weight": 0.5, "half_life_days": 10}, {"name": "view", "weight": 0.2, "half_life_days": 7}]'), '$[*].type_id ? (@ >= 4)') AS custom_type_ids;
SELECT recsys.recsys_record_events('shop', '[{"user_id": "u3", "item_id": "c", "type": "like", "ts": "2026-03-02T00:00:00Z"}]');
SELECT user_id, item_id, weight FROM recsys.user_items WHERE namespace = 'shop' ORDER BY 1, 2;

-- Deletes and resets.
SELECT recsys.recsys_delete_items('shop', '{"item_ids": ["b"]}');
SELECT recsys.recsys_delete_users('shop', '{"user_ids": ["u3"]}');
SELECT recsys.recsys_reset_namespace('shop');
SELECT recsys.recsys_reset_namespace('shop', force => true);
SELECT (SELECT count(*) FROM recsys.items WHERE namespace = 'shop') AS items,
       (SELECT count(*) FROM recsys.events WHERE namespace = 'shop') AS events,
       (SELECT count(*) FROM recsys.covis WHERE namespace = 'shop') AS covis,
       (SELECT count(*) FROM recsys.namespaces WHERE namespace = 'shop') AS namespaces;
