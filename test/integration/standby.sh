#!/usr/bin/env bash
# A real streaming replica (pg_basebackup -R) of the test cluster: serving works on the hot
# standby, nothing is logged there, and the skipped decision is counted in the standby's metrics.
# Emits TAP.
set -euo pipefail
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
org="5b5b5b5b-0000-0000-0000-000000005b5b"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = '$org'" "$@"; }
echo "1..5"
q -c "SELECT recsys.recsys_seed_synthetic('standby', '{\"items\": 200, \"users\": 20, \"events\": 2000, \"end\": \"2026-11-01T00:00:00Z\"}')" >/dev/null
q -c "SELECT count(*) FROM recsys.recsys_rank('standby', 'user_1', 10)" >/dev/null

dir=$(mktemp -d)
chown postgres "$dir" 2>/dev/null || true
chmod 700 "$dir"
port=$(( ${PGPORT:-5432} + 100 ))
cleanup() { as_postgres /usr/lib/postgresql/15/bin/pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_postgres pg_basebackup -D "$dir/data" -R -X stream -c fast >/dev/null
# Debian keeps a cluster's configuration outside its data directory: give the copy its own.
as_postgres bash -c "touch '$dir/data/postgresql.conf' '$dir/data/pg_ident.conf'
                     echo 'local all all trust' > '$dir/data/pg_hba.conf'"
as_postgres /usr/lib/postgresql/15/bin/pg_ctl -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c hot_standby=on -c listen_addresses=''" start >/dev/null || { sed 's/^/# /' "$dir/log"; exit 1; }
s() { psql -X -q -v ON_ERROR_STOP=1 -At -h "$dir" -p "$port" -c "SET recsys.org_id = '$org'" "$@"; }
for _ in $(seq 1 50); do
    [ "$(s -c "SELECT count(*) FROM recsys.items WHERE namespace = 'standby'" 2>/dev/null || true)" = 200 ] && break
    sleep 0.2
done

[ "$(s -c "SELECT pg_is_in_recovery()")" = t ] && echo "ok 1 - the replica is a hot standby" || echo "not ok 1 - not in recovery"
primary_list=$(q -c "SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('standby', 'user_2', 10)")
standby_list=$(s -c "SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('standby', 'user_2', 10)" 2>&1 || true)
[ -n "$standby_list" ] && [ "$standby_list" = "$primary_list" ] && echo "ok 2 - the standby serves the primary's list" \
    || echo "not ok 2 - standby: $standby_list, primary: $primary_list"
recommend=$(s -c "SELECT jsonb_array_length(recsys.recsys_recommend('standby', '{\"user_id\": \"user_3\", \"k\": 5}') -> 'items')" 2>&1 || true)
[ "$recommend" = 5 ] && echo "ok 3 - recsys_recommend works on the standby" || echo "not ok 3 - recommend on the standby: $recommend"
skipped=$(s -c "SELECT value FROM recsys.metrics WHERE name = 'decisions_skipped' AND labels ->> 'reason' = 'standby'")
[ "$skipped" = 2 ] && echo "ok 4 - both decisions are counted as skipped on the standby" || echo "not ok 4 - skipped on the standby: $skipped"
logged=$(q -c "SELECT count(*) FROM recsys.rec_decisions WHERE namespace = 'standby'")
[ "$logged" = 2 ] && echo "ok 5 - only the primary's decisions are logged" || echo "not ok 5 - $logged decisions logged"
