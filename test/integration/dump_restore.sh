#!/usr/bin/env bash
# pg_dump -Fc then pg_restore into a new database brings back every tenant table and the
# configuration row for row, ranks the same, and keeps ingesting. Emits TAP.
set -euo pipefail
src="recsys_dump_src_$$"
dst="recsys_dump_dst_$$"
org="d0d0d0d0-0000-0000-0000-00000000d0d0"
dump=$(mktemp)
trap 'rm -f "$dump"; dropdb --if-exists "$src"; dropdb --if-exists "$dst"' EXIT
q() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" -c "SET recsys.org_id = '$org'" "$@"; }
tables=(namespaces event_types items users events event_ids item_popularity user_items covis namespace_config profiles
        segments rules manual_overrides override_history bandit_policies bandit_surfaces bandit_stats bandit_decisions
        decision_salts rec_decisions role_orgs)
echo "1..$(( ${#tables[@]} + 4 ))"
createdb "$src"
psql -X -q -d "$src" -c "CREATE EXTENSION recsys"
q "$src" -c "SELECT recsys.recsys_seed_synthetic('dump', '{\"items\": 400, \"users\": 40, \"events\": 4000, \"end\": \"2026-11-01T00:00:00Z\"}')" \
  -c "SELECT recsys.recsys_record_events('dump', '[{\"user_id\": \"late\", \"item_id\": \"item_1\", \"type\": \"view\", \"ts\": \"2023-03-05T00:00:00Z\"}]')" \
  -c "SELECT recsys.recsys_upsert_event_types('dump', '[{\"name\": \"share\", \"weight\": 0.5, \"half_life_days\": 10}]')" \
  -c "SELECT recsys.recsys_configure('dump', '{\"mmr_lambda\": 0.5, \"brand_cap\": 3}', 'dump test')" \
  -c "SELECT recsys.recsys_save_profile('wide', '{\"mmr_lambda\": 0.3}')" \
  -c "SELECT recsys.recsys_upsert_segment('dump', '{\"segment_id\": \"vip\", \"condition\": {\"eq\": [\"user.traits.tier\", \"gold\"]}, \"profile\": {\"alpha\": 2}}')" \
  -c "SELECT recsys.recsys_upsert_rule('dump', '{\"action\": \"boost\", \"boost\": 1, \"target\": {\"item_ids\": [\"item_7\"]}}')" \
  -c "SELECT recsys.recsys_create_override('dump', '{\"item_id\": \"item_9\", \"action\": \"suppress\"}')" \
  -c "SELECT recsys.recsys_upsert_policies('dump', '[{\"policy_id\": \"p\", \"settings\": {\"beta\": 2}}]')" \
  -c "SELECT recsys.recsys_bandit_holdout('dump', 'search', 0.1)" \
  -c "SELECT recsys.recsys_bandit_reward('dump', recsys.recsys_bandit_decide('dump', 'home') ->> 'decision_id', 1)" \
  -c "SELECT count(*) FROM recsys.recsys_rank('dump', 'user_1', 10)" >/dev/null
psql -X -q -d "$src" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS recsys_dump_role" -c "CREATE ROLE recsys_dump_role" \
     -c "SELECT recsys.recsys_map_role('recsys_dump_role', '$org')" >/dev/null

pg_dump -Fc -f "$dump" "$src"
createdb "$dst"
if pg_restore -d "$dst" "$dump" 2>"$dump.err"; then echo "ok 1 - pg_restore succeeds"
else echo "not ok 1 - pg_restore failed"; sed 's/^/# /' "$dump.err"; fi
rm -f "$dump.err"

n=2
for t in "${tables[@]}"; do
    # changed_xid names a transaction of the cluster that wrote the row: the restore writes anew.
    fingerprint="SELECT count(*) || ':' || coalesce(md5(string_agg((to_jsonb(x) - 'changed_xid')::text, ','
                                                                   ORDER BY (to_jsonb(x) - 'changed_xid')::text)), '')
                   FROM recsys.$t x"
    a=$(psql -X -At -d "$src" -c "$fingerprint")
    b=$(psql -X -At -d "$dst" -c "$fingerprint")
    if [ "$a" = "$b" ] && [ "${a%%:*}" != 0 ]; then echo "ok $n - $t round-trips (${a%%:*} rows)"
    else echo "not ok $n - $t: source $a, restored $b"; fi
    n=$((n + 1))
done

rank="SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('dump', 'user_3', 10)"
a=$(q "$src" -c "$rank"); b=$(q "$dst" -c "$rank")
[ "$a" = "$b" ] && echo "ok $n - the restored database ranks the same" || echo "not ok $n - ranking differs: $a / $b"
n=$((n + 1))
events="SELECT recsys.recsys_record_events('dump', '[{\"user_id\": \"new\", \"item_id\": \"item_2\", \"type\": \"view\"}]') ->> 'stored'"
[ "$(q "$dst" -c "$events")" = 1 ] && echo "ok $n - the restored database ingests" || echo "not ok $n - ingestion after restore failed"
n=$((n + 1))
seq_ok=$(psql -X -At -d "$dst" -c "SELECT count(*) = count(DISTINCT seq) FROM recsys.events")
[ "$seq_ok" = t ] && echo "ok $n - new events continue the restored sequence" || echo "not ok $n - event seq repeats after restore"
