-- Tenant isolation: a caller for org A can neither read nor change org B's rows, through
-- tables, views or any recsys_ function, whichever way it is identified.
BEGIN;
SET client_min_messages = warning;
SELECT plan(45);
-- pgTAP keeps its state in temp tables; the roles below must be able to use them.
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;

CREATE ROLE tap_login_a LOGIN IN ROLE recsys_writer;
CREATE ROLE tap_login_b LOGIN IN ROLE recsys_writer;
CREATE ROLE tap_reader LOGIN IN ROLE recsys_reader;
CREATE ROLE tap_admin LOGIN IN ROLE recsys_admin;
CREATE ROLE tap_unmapped LOGIN IN ROLE recsys_writer;
CREATE ROLE tap_web NOLOGIN IN ROLE recsys_writer;
CREATE ROLE tap_authenticator LOGIN NOINHERIT IN ROLE recsys_authenticator;
GRANT tap_web TO tap_authenticator;
SELECT recsys.recsys_map_role('tap_login_a', 'aaaaaaaa-0000-0000-0000-000000000001');
SELECT recsys.recsys_map_role('tap_login_b', 'bbbbbbbb-0000-0000-0000-000000000002');
SELECT recsys.recsys_map_role('tap_reader', 'aaaaaaaa-0000-0000-0000-000000000001');

-- Org B's data, written by an admin acting for B.
SET recsys.org_id = 'bbbbbbbb-0000-0000-0000-000000000002';
SELECT recsys.recsys_upsert_items('shop', '[{"item_id": "b1", "tags": ["x"]}, {"item_id": "b2"}]');
SELECT recsys.recsys_upsert_users('shop', '[{"user_id": "ub"}]');
SELECT recsys.recsys_record_events('shop', '[{"user_id": "ub", "item_id": "b1", "type": "view"}, {"user_id": "ub", "item_id": "b2", "type": "view"}]');
RESET recsys.org_id;

-- 1. An SQL login role mapped to org A.
SET SESSION AUTHORIZATION tap_login_a;
SELECT is(recsys.current_org(), 'aaaaaaaa-0000-0000-0000-000000000001'::uuid, 'a mapped login role acts for its org');
SELECT lives_ok($$SELECT recsys.recsys_upsert_items('shop', '[{"item_id": "a1", "tags": ["x"]}, {"item_id": "a2"}]')$$, 'org A writes its items');
SELECT lives_ok($$SELECT recsys.recsys_record_events('shop', '[{"user_id": "ua", "item_id": "a1", "type": "purchase"}, {"user_id": "ua", "item_id": "a2", "type": "view"}]')$$, 'org A records events');
SELECT lives_ok($$INSERT INTO recsys.events (namespace, user_id, item_id, type) VALUES ('shop', 'ua', 'a1', 1)$$, 'org A inserts events directly');
SELECT is((SELECT array_agg(item_id ORDER BY item_id) FROM recsys.items), ARRAY['a1', 'a2'], 'items: only org A rows are visible');
SELECT is((SELECT count(*)::int FROM recsys.events WHERE user_id = 'ub'), 0, 'events: org B rows are invisible');
SELECT is((SELECT count(*)::int FROM recsys.namespaces), 1, 'namespaces: only org A''s');
SELECT is((SELECT count(*)::int FROM recsys.event_types WHERE org_id <> recsys.current_org()), 0, 'event types: only org A''s');
SELECT ok((SELECT count(*) > 0 AND array_agg(item_id) <@ ARRAY['a1', 'a2'] FROM recsys.recsys_rank('shop', 'ua', 10)),
          'recsys_rank serves org A items only');
SELECT throws_ok($$INSERT INTO recsys.items (org_id, namespace, item_id) VALUES ('bbbbbbbb-0000-0000-0000-000000000002', 'shop', 'planted')$$,
                 '42501', NULL, 'inserting a row for org B is refused');
SELECT throws_ok($$COPY recsys.items (org_id, namespace, item_id) FROM PROGRAM 'echo x'$$, '42501', NULL, 'COPY FROM PROGRAM is refused');
UPDATE recsys.items SET price = 666 WHERE item_id LIKE 'b%';
DELETE FROM recsys.events WHERE user_id = 'ub';
SELECT is((SELECT (recsys.recsys_delete_items('shop', '{"item_ids": ["b1", "b2"]}') ->> 'deleted')::int), 0, 'recsys_delete_items cannot reach org B items');
SELECT is((SELECT (recsys.recsys_delete_events('shop') ->> 'deleted')::int), 3, 'recsys_delete_events deletes org A events only');
SELECT throws_ok($$SET recsys.org_id = 'bbbbbbbb-0000-0000-0000-000000000002'$$, '42501', 'permission denied to set recsys.org_id',
                 'a non-admin cannot switch org with SET recsys.org_id');
SELECT throws_ok($$SELECT set_config('recsys.org_id', 'bbbbbbbb-0000-0000-0000-000000000002', true)$$, '42501', NULL,
                 'nor with set_config');
-- Forged JWT claims are ignored outside sessions of the authenticator.
SELECT set_config('request.jwt.claims', '{"org_id": "bbbbbbbb-0000-0000-0000-000000000002"}', true);
SELECT is(recsys.current_org(), 'aaaaaaaa-0000-0000-0000-000000000001'::uuid, 'a login role cannot forge request.jwt.claims');
SELECT is((SELECT count(*)::int FROM recsys.items), 2, 'forged claims reveal nothing of org B');
SELECT set_config('request.jwt.claims', '', true);
SELECT throws_ok($$SELECT count(*) FROM recsys.item_popularity$$, '42501', NULL, 'derived tables are not readable by writers');
SELECT throws_ok($$SELECT recsys.recsys_reset_namespace('shop', true)$$, '42501', NULL, 'writers cannot reset a namespace');
SELECT throws_ok($$SELECT recsys.recsys_map_role('tap_login_a', 'bbbbbbbb-0000-0000-0000-000000000002')$$, '42501', NULL,
                 'writers cannot remap their own role');
-- Quotes, semicolons and % stay data.
SELECT lives_ok($$SELECT recsys.recsys_upsert_items('shop', '[{"item_id": "x''); DROP TABLE recsys.items; --"}, {"item_id": "100%_%s"}]')$$,
                'ids with quotes, semicolons and % are accepted');
SELECT is((SELECT array_agg(item_id ORDER BY item_id) FROM recsys.items WHERE item_id NOT IN ('a1', 'a2')),
          ARRAY['100%_%s', 'x''); DROP TABLE recsys.items; --'], 'and stored verbatim');
SELECT throws_ok($$SELECT recsys.recsys_upsert_items('shop''; DROP TABLE recsys.items; --', '[]')$$, '22023', NULL,
                 'a namespace with quotes and semicolons is rejected');
SELECT throws_ok($$SELECT recsys.recsys_upsert_items('100%', '[]')$$, '22023', NULL, 'a namespace with % is rejected');
RESET SESSION AUTHORIZATION;

-- 2. The other org's data is untouched (seen by a non-superuser admin acting for org B).
SET SESSION AUTHORIZATION tap_admin;
SET recsys.org_id = 'bbbbbbbb-0000-0000-0000-000000000002';
SELECT is((SELECT array_agg(item_id || ':' || coalesce(price::text, '-') ORDER BY item_id) FROM recsys.items),
          ARRAY['b1:-', 'b2:-'], 'org B items survived the UPDATE and deletes of org A');
SELECT is((SELECT count(*)::int FROM recsys.events), 2, 'org B events survived');
SELECT is((SELECT count(*)::int FROM recsys.user_items), 2, 'org B derived state survived');
SELECT is((SELECT array_agg(DISTINCT user_id) FROM recsys.user_tags), ARRAY['ub'], 'the user_tags view shows org B users only');
SELECT is((SELECT array_agg(item_id || '>' || neighbour_id ORDER BY item_id) FROM recsys.item_neighbours), ARRAY['b1>b2', 'b2>b1'],
          'the item_neighbours view shows org B pairs only');
RESET recsys.org_id;
RESET SESSION AUTHORIZATION;

-- 3. A PostgREST-style request: the authenticator logs in, switches to the JWT role and sets the claims.
SET SESSION AUTHORIZATION tap_authenticator;
SET LOCAL ROLE tap_web;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-000000000001", "role": "tap_web"}', true);
SELECT is(recsys.current_org(), 'aaaaaaaa-0000-0000-0000-000000000001'::uuid, 'the JWT claim org_id decides the org');
SELECT is((SELECT count(*)::int FROM recsys.items WHERE item_id LIKE 'b%'), 0, 'a JWT for org A sees no org B item');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('shop', 'ub', 10) WHERE item_id LIKE 'b%'), 0, 'nor through recsys_rank');
SELECT throws_ok($$INSERT INTO recsys.users (org_id, namespace, user_id) VALUES ('bbbbbbbb-0000-0000-0000-000000000002', 'shop', 'planted')$$,
                 '42501', NULL, 'a JWT for org A cannot write org B rows');
SELECT throws_ok($$SET recsys.org_id = 'bbbbbbbb-0000-0000-0000-000000000002'$$, '42501', NULL, 'nor switch org');
SELECT set_config('request.jwt.claims', '{"role": "tap_web"}', true);
SELECT throws_ok($$SELECT recsys.current_org()$$, '42501', 'the JWT carries no org_id claim', 'a JWT without org_id is refused');
SELECT set_config('request.jwt.claims', '{"org_id": "nope"}', true);
SELECT throws_ok($$SELECT recsys.current_org()$$, '42501', 'the JWT claim org_id is not a UUID', 'a malformed org_id claim is refused');
SELECT set_config('request.jwt.claims', '{"org_id": "bbbbbbbb-0000-0000-0000-000000000002", "role": "tap_web"}', true);
SELECT is((SELECT array_agg(item_id ORDER BY item_id) FROM recsys.items), ARRAY['b1', 'b2'], 'a JWT for org B sees exactly org B');
SELECT set_config('request.jwt.claims', '', true);
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- 4. Unmapped roles and readers.
SET SESSION AUTHORIZATION tap_unmapped;
SELECT throws_ok($$SELECT recsys.recsys_upsert_items('shop', '[]')$$, '42501', 'role tap_unmapped is not mapped to an organisation',
                 'an unmapped role is refused');
SELECT throws_ok($$SELECT count(*) FROM recsys.items$$, '42501', NULL, 'an unmapped role cannot read tables either');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_login_a;
SELECT recsys.recsys_record_events('shop', '[{"user_id": "ua", "item_id": "a1", "type": "view"}, {"user_id": "ua", "item_id": "a2", "type": "view"}]');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_reader;
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('shop', 'ua', 5)), 2, 'a reader of org A can rank');
SELECT throws_ok($$SELECT recsys.recsys_upsert_items('shop', '[]')$$, '42501', NULL, 'a reader cannot ingest');
SELECT throws_ok($$INSERT INTO recsys.items (namespace, item_id) VALUES ('shop', 'r')$$, '42501', NULL, 'nor insert');
RESET SESSION AUTHORIZATION;

-- 5. Every SECURITY DEFINER function pins its search_path.
SELECT is((SELECT array_agg(p.proname ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'recsys'::regnamespace AND p.prosecdef
              AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')),
          NULL, 'every SECURITY DEFINER function sets search_path');
SELECT is((SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = 'recsys'::regnamespace AND c.relkind IN ('r', 'p')
            AND c.relname NOT IN ('role_orgs', 'default_event_types', 'config_knobs') AND NOT c.relrowsecurity
            AND NOT c.relispartition), 0, 'row-level security is on for every tenant table');
SELECT is((SELECT count(*)::int FROM information_schema.role_routine_grants
            WHERE routine_schema = 'recsys' AND grantee = 'PUBLIC'), 0, 'PUBLIC may execute no recsys function');

SELECT * FROM finish();
ROLLBACK;
