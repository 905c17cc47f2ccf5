#!/usr/bin/env bash
# Body of bench/decisions.sh, run inside pg_virtualenv.
set -euo pipefail
work=$(mktemp -d /tmp/recsys-bench.XXXXXX)
chmod 777 "$work"
orgid=00000000-0000-0000-0000-0000000dec15
org="SET recsys.org_id = '$orgid';"
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
q -c "CREATE EXTENSION recsys"
q -c "$org" -c "SELECT recsys.recsys_seed_synthetic('bench', '{\"items\": 10000, \"users\": 1000, \"events\": 100000}')" >/dev/null
q -c "ANALYZE"

# Runs one pgbench script and prints "median p99 calls" of the per-call latencies in ms.
measure() {
    local name=$1 sql=$2
    printf '%s\n' "\\set u random(1, 1000)" "\\set i random(1, 10000)" "\\set h random(1, 23)" "$sql" > "$work/$name.sql"
    rm -f "$work/$name".log*
    (cd "$work" && PGOPTIONS="-c recsys.org_id=$orgid" \
        pgbench -n -M prepared -c 1 -T "$RECSYS_BENCH_SECONDS" -f "$name.sql" -l --log-prefix="$name.log" >/dev/null 2>&1)
    cat "$work/$name".log* | awk '{print $3 / 1000.0}' | sort -n |
        awk '{a[NR]=$1} END {printf "%.3f %.3f %d", a[int(NR*0.5)+1], a[int(NR*0.99)+1], NR}'
}
median_of() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# (1) Logging overhead: rounds alternate share 0 and 1 so that drift hits both alike.
rank="SELECT * FROM recsys.recsys_rank('bench', 'user_' || :u, 20);"
off=""; on=""
for round in 1 2 3; do
    q -c "$org" -c "SELECT recsys.recsys_configure('bench', '{\"decision_sample_rate\": 0}')" >/dev/null
    off="$off $(measure "rank_off_$round" "$rank" | cut -d' ' -f1)"
    q -c "$org" -c "SELECT recsys.recsys_configure('bench', '{\"decision_sample_rate\": 1}')" >/dev/null
    on="$on $(measure "rank_on_$round" "$rank" | cut -d' ' -f1)"
done
# The insert alone: _log_decision with the arguments of a real call (a 500-candidate trace).
q -c "$org" -c "CREATE TABLE public.logged_call AS
    SELECT c.* FROM (SELECT (x).* FROM (SELECT recsys._rank_core('$orgid', 'bench', 'user_7', 20, 'default', '{}', NULL) AS x) r) c
     WHERE c.trace IS NOT NULL" -c "GRANT SELECT ON public.logged_call TO PUBLIC"
insert=$(measure log_insert "SELECT recsys._log_decision('$orgid', 'bench', 'rank', 'default', 'user_' || :u, 20, '{}',
    gen_random_uuid(), gen_random_uuid(), (SELECT jsonb_agg(jsonb_build_object('rank', g, 'item_id', 'item_' || g, 'score', 1, 'reasons', '[\"recent_popularity\"]')) FROM generate_series(1, 20) g),
    c.trace, c.candidates, NULL, clock_timestamp()) FROM public.logged_call c;")

# (2) recsys_decisions over RECSYS_BENCH_DECISIONS decisions spread over 10 days, 100k users,
# 20 served items and 20 candidates each (synthetic rows written straight into the table).
# The synthetic rows hash user ids with the salt 'salt': make it the organisation's salt.
q -c "UPDATE recsys.decision_salts SET salt = 'salt' WHERE org_id = '$orgid'"
start=$(date +%s)
for day in $(seq 0 9); do
    q -c "SELECT recsys._ensure_decision_partition(current_date - $day)" >/dev/null
    q -c "INSERT INTO recsys.rec_decisions (org_id, namespace, created_at, decision_id, request_id, function, surface, user_hash,
              k, options, config, config_hash, funnel, dropped, candidates, items, item_ids, rules, rule_ids, segment, duration_ms)
          SELECT '$orgid', 'bench', current_date - $day + (g % 86400) * interval '1 second' + (g / 86400) * interval '1 microsecond',
                 gen_random_uuid(), gen_random_uuid(), 'rank', 'home',
                 encode(sha256(convert_to('salt/user_' || (g * 7919 % 100000), 'UTF8')), 'hex'), 20, '{}', '{\"alpha\": 1}',
                 'c0ffee', '{\"candidates\": 20}', '{}',
                 ARRAY(SELECT 'item_' || ((g * 31 + c * 97) % 10000) FROM generate_series(1, 20) c),
                 (SELECT jsonb_agg(jsonb_build_object('rank', r, 'item_id', 'item_' || ((g * 31 + r * 97) % 10000), 'score', 1.0 / r,
                                                      'reasons', '[\"recent_popularity\"]')) FROM generate_series(1, 20) r),
                 ARRAY(SELECT 'item_' || ((g * 31 + r * 97) % 10000) FROM generate_series(1, 20) r),
                 '{}', '{}', 'default', 40
            FROM generate_series(1::bigint, $RECSYS_BENCH_DECISIONS / 10) g"
done
q -c "VACUUM ANALYZE recsys.rec_decisions"
load_s=$(( $(date +%s) - start ))
size=$(q -c "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'recsys.rec_decisions'::regclass")
total=$(q -c "SELECT count(*) FROM recsys.rec_decisions WHERE namespace = 'bench'")
by_user=$(measure by_user "SELECT * FROM recsys.recsys_decisions('bench', user_id => 'user_' || (:i * 10 + :h), lim => 50);")
page_time=$(measure page_time "SELECT * FROM recsys.recsys_decisions('bench', until => current_date - 3 + :h * interval '1 hour', lim => 50);")
page_item=$(measure page_item "SELECT * FROM recsys.recsys_decisions('bench', item_id => 'item_' || :i, lim => 50);")
page_item_day=$(measure page_item_day "SELECT * FROM recsys.recsys_decisions('bench', since => current_date - 1, item_id => 'item_' || :i, lim => 50);")
page_request=$(measure page_request "SELECT * FROM recsys.recsys_decisions('bench', request_id => gen_random_uuid()::text, lim => 50);")
rm -rf "$work"

echo
echo "| recsys_rank k=20 (10k items / 1k users / 100k events; 3 rounds of ${RECSYS_BENCH_SECONDS} s each) | median of round p50s, ms |"
echo "|---|---:|"
echo "| decision_sample_rate 0 (rounds:$off) | $(echo $off | median_of) |"
echo "| decision_sample_rate 1 (rounds:$on) | $(echo $on | median_of) |"
set -- $insert
echo "| the insert alone (_log_decision, 500 candidates, 20 items): p50 / p99 | $1 / $2 |"
echo
echo "recsys_decisions over $total decisions ($size with indexes, loaded in ${load_s} s), one client, ${RECSYS_BENCH_SECONDS} s each:"
echo
echo "| page (lim 50) | p50 ms | p99 ms | calls |"
echo "|---|---:|---:|---:|"
for pair in "user (through its hash):$by_user" "newest before a time 3 days ago:$page_time" "served item, any time:$page_item" "served item, last day:$page_item_day" \
            "request id:$page_request"; do
    name=${pair%%:*}; set -- ${pair#*:}
    echo "| $name | $1 | $2 | $3 |"
done
