#!/usr/bin/env bash
# Body of bench/serving.sh, run inside pg_virtualenv.
set -euo pipefail
work=$(mktemp -d /tmp/recsys-bench.XXXXXX)
chmod 777 "$work"
org="SET recsys.org_id = '00000000-0000-0000-0000-0000000be4c1';"
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
q -c "CREATE EXTENSION recsys"
# Two namespaces with the same synthetic data (the generator is seeded): "bench" gets 20 rules and
# 5 segments below, "bare" none, so that the cost of rules and segments is measured on the same
# work; "bare" has one bandit policy equal to the defaults, so that bandit_recommend ranks exactly
# as recsys_rank does and the difference is the bandit's own cost.
for ns in bench bare; do
    q -c "$org" -c "SELECT recsys.recsys_seed_synthetic('$ns', '{\"items\": $RECSYS_BENCH_ITEMS, \"users\": $RECSYS_BENCH_USERS, \"events\": $RECSYS_BENCH_EVENTS}')" >/dev/null
done
q -c "$org" -c "SELECT recsys.recsys_upsert_policies('bare', '[{\"policy_id\": \"defaults\", \"settings\": {\"mmr_lambda\": 0.7}}]')" >/dev/null
q -c "$org" -c "SELECT recsys.recsys_upsert_policies('bench', '[{\"policy_id\": \"p1\", \"settings\": {\"mmr_lambda\": 0.9}},
                   {\"policy_id\": \"p2\", \"settings\": {\"mmr_lambda\": 0.5}}, {\"policy_id\": \"p3\", \"settings\": {\"alpha\": 2}}]')" >/dev/null
q -c "ANALYZE"
# Every signal: an IVF embedding index and trained ALS factors (64 factors, 15 iterations).
index=$(q -c "$org" -c "SELECT recsys.recsys_build_embedding_index('bench')")
factors=$(q -c "$org" -c "SET client_min_messages = warning" -c "SELECT recsys.recsys_train_factors('bench') ->> 'seconds'")
q -c "$org" -c "SET client_min_messages = warning" -c "SELECT recsys.recsys_build_embedding_index('bare')" \
  -c "SELECT recsys.recsys_train_factors('bare')" >/dev/null
# First call of a fresh session: loads the catalogue cache (items, embeddings, popularity, factors).
cold=$(q -c "$org" -c "SELECT count(*) FROM recsys.recsys_rank('bench', 'user_1', 20)" -c "\\timing on" \
         -c "SELECT count(*) FROM recsys.recsys_rank('bench', 'user_2', 20)" | sed -n 's/^Time: \([0-9.]*\).*/\1/p')
first=$(psql -X -q -At -c "$org" -c "\\timing on" -c "SELECT count(*) FROM recsys.recsys_rank('bench', 'user_3', 20)" |
        sed -n 's/^Time: \([0-9.]*\).*/\1/p')

# Runs one pgbench script and prints "median p99" of the per-call latencies in ms (the
# session's first call, which loads the catalogue cache, is left out: it is reported apart); a
# third argument adds server options (-c name=value).
measure() {
    local name=$1 sql=$2 options=${3:-}
    echo "\\set u random(1, $RECSYS_BENCH_USERS)" > "$work/$name.sql"
    echo "$sql" >> "$work/$name.sql"
    (cd "$work" && PGOPTIONS="-c recsys.org_id=00000000-0000-0000-0000-0000000be4c1 $options" \
        pgbench -n -M prepared -c 1 -T "$RECSYS_BENCH_SECONDS" -f "$name.sql" -l --log-prefix="$name" >/dev/null 2>&1)
    cat "$work"/"$name".* | awk '$2 > 1 {print $3 / 1000.0}' | sort -n |
        awk '{a[NR]=$1} END {printf "%.3f %.3f %d", a[int(NR*0.5)+1], a[int(NR*0.99)+1], NR}'
}
# Paired timing in one session: rounds in blocks of RECSYS_BENCH_BLOCK users (default 20); a
# block calls `a` for each of its users, then `b` for the same users (which goes first alternates
# by block), so each side runs with its own data warm, as a server serving one of them would,
# while both see the same users and the same drift. Every call commits (untimed): in one long
# transaction each bandit decision would add a version of the same statistics row that later
# calls must step over. Prints "median a, median b, median of
# (b - a)" in ms over the rounds (users).
paired() {
    local a=$1 b=$2 rounds=${RECSYS_BENCH_PAIRS:-1000} block=${RECSYS_BENCH_BLOCK:-20}
    q -c "$org" -F ' ' -f - <<SQL
CREATE TEMP TABLE paired (a float8, b float8);
DO \$\$
DECLARE
    t0 timestamptz; ta float8[]; tb float8[]; users text[]; side text; took float8;
BEGIN
    FOR k IN -1..($rounds / $block) - 1 LOOP  -- one warm-up block first
        users := ARRAY(SELECT 'user_' || (1 + ((k * $block + j) * 7919) % $RECSYS_BENCH_USERS)
                         FROM generate_series(0, $block - 1) j ORDER BY j);
        ta := '{}'; tb := '{}';
        FOREACH side IN ARRAY CASE WHEN k % 2 = 0 THEN ARRAY['a', 'b'] ELSE ARRAY['b', 'a'] END LOOP
            FOR j IN 1..$block LOOP
                t0 := clock_timestamp();
                EXECUTE format('SELECT count(*) FROM (%s) x', CASE side WHEN 'a' THEN \$q\$$a\$q\$ ELSE \$q\$$b\$q\$ END)
                    USING users[j];
                took := extract(epoch FROM clock_timestamp() - t0) * 1000;
                IF side = 'a' THEN ta := ta || took; ELSE tb := tb || took; END IF;
                COMMIT;  -- each call in its own transaction, as served (untimed)
            END LOOP;
        END LOOP;
        IF k >= 0 THEN
            INSERT INTO paired SELECT x, y FROM unnest(ta, tb) AS t(x, y);
        END IF;
    END LOOP;
END
\$\$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a)::numeric, 3), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY b)::numeric, 3),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY b - a)::numeric, 3) FROM paired;
SQL
}
# 20 active rules (boosts and demotions by tag and brand, blocks, pins) and 5 segments on traits.
q -c "$org" -f - >/dev/null <<'SQL'
SELECT recsys.recsys_upsert_rule('bench', jsonb_build_object('action', 'boost', 'target', jsonb_build_object('tag', t), 'boost', b))
  FROM (VALUES ('eco', 0.5), ('premium', 0.3), ('budget', -0.3), ('bestseller', 0.2), ('gift', 0.4), ('limited', 0.6),
               ('classic', -0.2), ('handmade', 0.5), ('compact', 0.1), ('vintage', -0.4), ('smart', 0.3), ('kids', 0.2)) v(t, b);
SELECT recsys.recsys_upsert_rule('bench', jsonb_build_object('action', 'boost', 'target', jsonb_build_object('brand', brand), 'boost', 0.5))
  FROM (SELECT DISTINCT brand FROM recsys.items WHERE namespace = 'bench' ORDER BY brand LIMIT 3) b;
SELECT recsys.recsys_upsert_rule('bench', jsonb_build_object('action', 'block', 'target', jsonb_build_object('item_ids', jsonb_build_array('item_' || i))))
  FROM generate_series(2, 4) i;
SELECT recsys.recsys_upsert_rule('bench', jsonb_build_object('action', 'pin', 'target', jsonb_build_object('item_ids', jsonb_build_array('item_' || i)), 'max_pins', 1))
  FROM generate_series(10, 11) i;
SELECT recsys.recsys_upsert_segment('bench', jsonb_build_object('segment_id', s, 'priority', p,
           'condition', jsonb_build_object('eq', jsonb_build_array('user.traits.segment', s)), 'profile', jsonb_build_object('mmr_lambda', 0.8)))
  FROM (VALUES ('power_users', 5), ('new_users', 4), ('niche_readers', 3), ('trend_seekers', 2), ('weekend_adventurers', 1)) v(s, p);
SQL
rules=$(q -c "$org" -c "SELECT count(*) FROM recsys.rules_list WHERE namespace = 'bench' AND enabled")
decide=$(measure decide "SELECT recsys.recsys_bandit_decide('bench', 'home', '{\"device\": \"mobile\"}');")
rules_paired=$(paired "SELECT * FROM recsys.recsys_rank('bare', \$1, 20)" "SELECT * FROM recsys.recsys_rank('bench', \$1, 20)")
bandit_paired=$(paired "SELECT * FROM recsys.recsys_rank('bare', \$1, 20, 'home')" "SELECT recsys.recsys_bandit_recommend('bare', \$1, 20, 'home')")
# The method's own noise: the same call on both sides (its median difference should be about 0).
calibration_paired=$(paired "SELECT * FROM recsys.recsys_rank('bare', \$1, 20)" "SELECT * FROM recsys.recsys_rank('bare', \$1, 20)")
# recsys.serving_threads 1 against the default auto (the setting is made while the arguments
# are evaluated, before the call runs).
threads_paired=$(paired "SELECT * FROM recsys.recsys_rank('bench', \$1 || substr(set_config('recsys.serving_threads', '1', false), 1, 0), 20)" \
                        "SELECT * FROM recsys.recsys_rank('bench', \$1 || substr(set_config('recsys.serving_threads', 'auto', false), 1, 0), 20)")
# The paired rounds above logged thousands of decisions: vacuumed now, so that autovacuum does not
# take a core during the measurements below (it is done again before the throughput rounds).
q -c "VACUUM ANALYZE recsys.rec_decisions"
rank=$(measure rank "SELECT * FROM recsys.recsys_rank('bench', 'user_' || :u, 20);")
rank_one_thread=$(measure rank1 "SELECT * FROM recsys.recsys_rank('bench', 'user_' || :u, 20);" "-c recsys.serving_threads=1")
recommend=$(measure recommend "SELECT recsys.recsys_bandit_recommend('bench', 'user_' || :u, 20, 'home');")
similar=$(measure similar "SELECT * FROM recsys.recsys_similar_items('bench', 'item_' || :u, 20);")
popular=$(measure popular "SELECT item_id FROM recsys.item_popularity WHERE org_id = '00000000-0000-0000-0000-0000000be4c1' AND namespace = 'bench' AND type = 0 ORDER BY log2_score DESC LIMIT 20;")
# Throughput with two clients (calls per second over the run).
echo "\\set u random(1, $RECSYS_BENCH_USERS)" > "$work/tp.sql"
echo "SELECT * FROM recsys.recsys_rank('bench', 'user_' || :u, 20);" >> "$work/tp.sql"
# Each session's first call loads its catalogue cache (seconds at 100k items), so the rate is
# taken from the per-call log once both sessions have finished their first call (pgbench's own
# tps would count the loading time as serving time).
rate_with() {
    (cd "$work" && rm -f tp_log* && PGOPTIONS="-c recsys.org_id=00000000-0000-0000-0000-0000000be4c1 -c recsys.serving_threads=$1" \
        pgbench -n -M prepared -c 2 -j 2 -T $((RECSYS_BENCH_SECONDS + 5)) -f tp.sql -l --log-prefix=tp_log >/dev/null 2>&1)
    cat "$work"/tp_log* | awk '{ t = $5 + $6 / 1e6; done[NR] = t; if ($2 == 1 && t > start) start = t; if (t > end) end = t }
        END { for (i in done) if (done[i] > start) n++; printf "%.1f", n / (end - start) }'
}
# The runs above logged thousands more: vacuumed again before the throughput rounds; two rounds
# of the three settings, interleaved.
q -c "VACUUM ANALYZE recsys.rec_decisions"
for round in 1 2; do
    for threads in auto 1 2; do
        rate=$(rate_with $threads)
        case $threads in
            auto) throughput="${throughput:+$throughput / }$rate" ;;
            1) throughput_one_thread="${throughput_one_thread:+$throughput_one_thread / }$rate" ;;
            2) throughput_two_threads="${throughput_two_threads:+$throughput_two_threads / }$rate" ;;
        esac
    done
done
# Backend memory: resident size of one session's backend (read by the backend itself from
# /proc/self/status) after one call and after RECSYS_BENCH_CALLS more calls: private memory
# (RssAnon, where a leak would show) and shared buffers touched (RssShmem, not a leak).
calls=${RECSYS_BENCH_CALLS:-10000}
{
    echo "SET recsys.org_id = '00000000-0000-0000-0000-0000000be4c1';"
    echo "SELECT count(*) FROM recsys.recsys_rank('bench', 'user_1', 20) \\g /dev/null"
    echo "SELECT substring(pg_read_file('/proc/self/status') from 'RssAnon:\\s+(\\d+)') AS anon_before,"
    echo "       substring(pg_read_file('/proc/self/status') from 'RssShmem:\\s+(\\d+)') AS shmem_before \\gset"
    for n in $(seq 1 "$calls"); do
        echo "SELECT count(*) FROM recsys.recsys_rank('bench', 'user_$(( n % RECSYS_BENCH_USERS + 1 ))', 20) \\g /dev/null"
    done
    echo "SELECT :anon_before, substring(pg_read_file('/proc/self/status') from 'RssAnon:\\s+(\\d+)'),"
    echo "       :shmem_before, substring(pg_read_file('/proc/self/status') from 'RssShmem:\\s+(\\d+)');"
} > "$work/rss.sql"
read -r anon_before anon_after shmem_before shmem_after < <(psql -X -q -At -F ' ' -f "$work/rss.sql")
rm -rf "$work"
echo
echo "embedding index: $index; ALS training: $factors s"
echo "first call of a fresh session (loads the catalogue cache): $first ms; a warm call: $cold ms"
echo
echo "| call (one client, ${RECSYS_BENCH_SECONDS} s each; $RECSYS_BENCH_ITEMS items / $RECSYS_BENCH_USERS users / $RECSYS_BENCH_EVENTS events) | p50 ms | p99 ms | calls |"
echo "|---|---:|---:|---:|"
for pair in "recsys_bandit_decide:$decide" "recsys_rank k=20, 20 rules and 5 segments:$rank" \
            "recsys_rank, the same with recsys.serving_threads = 1:$rank_one_thread" "recsys_bandit_recommend k=20:$recommend" \
            "recsys_similar_items k=20:$similar" "plain SQL top 20 by popularity (one event type, index):$popular"; do
    name=${pair%%:*}; set -- ${pair#*:}
    echo "| $name | $1 | $2 | $3 |"
done
echo
echo "recsys_rank with 2 clients ($rules enabled rules, 5 segments): $throughput calls/s in two rounds (recsys.serving_threads = 1: $throughput_one_thread, = 2: $throughput_two_threads calls/s)"
set -- $rank; r50=$1; set -- $popular; p50=$1
echo "recsys_rank / plain popularity query: $(awk -v a="$r50" -v b="$p50" 'BEGIN {printf "%.1f", a / b}')x"
set -- $rules_paired
echo "paired, ${RECSYS_BENCH_PAIRS:-1000} rounds: recsys_rank without rules p50 $1 ms, with 20 rules and 5 segments $2 ms," \
     "median difference $3 ms"
set -- $bandit_paired
echo "paired, ${RECSYS_BENCH_PAIRS:-1000} rounds: recsys_rank p50 $1 ms, recsys_bandit_recommend (same knobs) $2 ms," \
     "median difference $3 ms"
set -- $threads_paired
echo "paired, ${RECSYS_BENCH_PAIRS:-1000} rounds: recsys_rank with recsys.serving_threads = 1 p50 $1 ms, with auto (the default) $2 ms," \
     "median difference $3 ms"
set -- $calibration_paired
echo "paired calibration, ${RECSYS_BENCH_PAIRS:-1000} rounds: the same recsys_rank call on both sides, p50 $1 and $2 ms," \
     "median difference $3 ms"
echo "backend private memory (RssAnon): $anon_before kB after one call, $anon_after kB after $calls more calls (growth $(( (anon_after - anon_before) / 1024 )) MB)"
echo "shared buffers touched (RssShmem): $shmem_before kB -> $shmem_after kB"
