#!/usr/bin/env bash
# The upgrade walk: a database created at every earlier version (src/sql/versions/) and updated
# with ALTER EXTENSION recsys UPDATE has exactly the objects of a fresh install (functions with
# their bodies, settings, owners and privileges; tables, columns, constraints, indexes, triggers,
# policies, comments, reference rows), keeps its data and ranks the same. Emits TAP.
set -euo pipefail
fresh="recsys_upgrade_fresh_$$"
org="0f0f0f0f-0000-0000-0000-00000000000f"
versions=$(ls src/sql/versions/ | sed -n 's/^recsys--\([0-9.]*\)\.sql$/\1/p' | sort -V)
trap 'dropdb --if-exists "$fresh"; for v in $versions; do dropdb --if-exists "recsys_upgrade_${v//./_}_$$" 2>/dev/null; done' EXIT
q() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" -c "SET recsys.org_id = '$org'" "$@"; }

# One line per object of the extension (or in its schema), with everything that must match.
read -r -d '' fingerprint <<'SQL' || true
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'recsys'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'),
-- Extension members only: run-time partitions are data, not schema.
rels AS (SELECT c.* FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid)
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc) || ' ' || coalesce(p.probin, '') || ' '
       || p.prosecdef || p.provolatile::text || p.proparallel::text || p.proisstrict || ' ' || coalesce(p.proconfig::text, '') || ' '
       || pg_get_userbyid(p.proowner) || ' ' || coalesce(p.proacl::text, '') || ' ' || pg_get_function_result(p.oid)
       || ' ' || coalesce(md5(obj_description(p.oid, 'pg_proc')), '')
  FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
UNION ALL
SELECT 'relation ' || r.relname || ' ' || r.relkind::text || r.relpersistence::text || ' ' || pg_get_userbyid(r.relowner) || ' '
       || coalesce(r.relacl::text, '') || ' ' || r.relrowsecurity || r.relforcerowsecurity || ' '
       || coalesce(array_to_string(r.reloptions, ','), '') || ' ' || coalesce(md5(obj_description(r.oid, 'pg_class')), '')
       || ' ' || coalesce(md5(pg_get_viewdef(r.oid)), '') || ' ' || coalesce(pg_get_partkeydef(r.oid), '')
  FROM rels r WHERE r.relkind <> 'i'
UNION ALL
SELECT 'column ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
       || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' ' || a.attcompression::text || ' ' || coalesce(co.collname, '')
  FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
 WHERE r.relkind IN ('r', 'p', 'v', 'u')
UNION ALL
SELECT 'constraint ' || r.relname || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
  FROM rels r JOIN pg_constraint c ON c.conrelid = r.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM rels r JOIN pg_index i ON i.indrelid = r.oid
UNION ALL
SELECT 'trigger ' || r.relname || ' ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
  FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || p.tablename || ' ' || p.policyname || ' ' || p.cmd || ' ' || p.roles::text || ' '
       || coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')
  FROM pg_policies p WHERE p.schemaname = 'recsys'
UNION ALL
SELECT 'type ' || t.typname || ' ' || pg_get_userbyid(t.typowner) || ' '
       || coalesce((SELECT string_agg(pg_get_constraintdef(c.oid), ',') FROM pg_constraint c WHERE c.contypid = t.oid), '')
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'recsys' AND t.typtype IN ('c', 'd') AND (t.typrelid = 0 OR EXISTS (
       SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
UNION ALL
SELECT 'dumped ' || c.oid::regclass::text || ' ' || coalesce(e.extcondition[i], '')
  FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS x(oid, i) JOIN pg_class c ON c.oid = x.oid
 WHERE e.extname = 'recsys'
UNION ALL
SELECT 'knob ' || to_jsonb(k)::text FROM recsys.config_knobs k
UNION ALL
SELECT 'event type ' || to_jsonb(d)::text FROM recsys.default_event_types d
UNION ALL
SELECT 'schema ' || pg_get_userbyid(n.nspowner) || ' ' || coalesce(n.nspacl::text, '') FROM pg_namespace n WHERE n.nspname = 'recsys'
ORDER BY 1
SQL

count=$(echo "$versions" | wc -w)
echo "1..$((count * 4))"
createdb "$fresh"
psql -X -q -d "$fresh" -c "CREATE EXTENSION recsys"
psql -X -At -d "$fresh" -c "$fingerprint" > "/tmp/recsys_fresh_$$.txt"
n=1
for v in $versions; do
    db="recsys_upgrade_${v//./_}_$$"
    createdb "$db"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION recsys VERSION '$v'"
    q "$db" -c "SELECT recsys.recsys_seed_synthetic('walk', '{\"items\": 300, \"users\": 30, \"events\": 3000, \"end\": \"2026-11-01T00:00:00Z\"}')" \
            -c "SELECT recsys.recsys_configure('walk', '{\"mmr_lambda\": 0.5}', 'before the upgrade')" >/dev/null
    rank="SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('walk', 'user_3', 10)"
    before=$(q "$db" -c "$rank")
    if out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "ALTER EXTENSION recsys UPDATE" 2>&1); then
        echo "ok $n - ALTER EXTENSION recsys UPDATE from $v succeeds"
    else
        echo "not ok $n - ALTER EXTENSION recsys UPDATE from $v failed"; echo "$out" | sed 's/^/# /' >&2
    fi
    n=$((n + 1))
    installed=$(psql -X -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'recsys'")
    default=$(sed -n "s/^default_version = '\(.*\)'/\1/p" recsys.control)
    [ "$installed" = "$default" ] && echo "ok $n - $v reaches $default" || echo "not ok $n - $v is at $installed, not $default"
    n=$((n + 1))
    psql -X -At -d "$db" -c "$fingerprint" > "/tmp/recsys_upgraded_$$.txt"
    if diff -u "/tmp/recsys_fresh_$$.txt" "/tmp/recsys_upgraded_$$.txt" > "/tmp/recsys_diff_$$.txt"; then
        echo "ok $n - the database upgraded from $v has exactly the objects of a fresh install"
    else
        echo "not ok $n - the database upgraded from $v differs from a fresh install (- fresh, + upgraded):"
        grep -E "^[-+]([^-+]|$)" "/tmp/recsys_diff_$$.txt" | head -60 | sed 's/^/# /' >&2
    fi
    n=$((n + 1))
    after=$(q "$db" -c "$rank")
    [ -n "$before" ] && [ "$before" = "$after" ] && echo "ok $n - the data of $v survives and ranks the same" \
        || echo "not ok $n - ranking before ($before) and after ($after) the upgrade from $v differ"
    n=$((n + 1))
    dropdb "$db"
done
rm -f "/tmp/recsys_fresh_$$.txt" "/tmp/recsys_upgraded_$$.txt"
