#!/usr/bin/env bash
# Body of bench/ingest.sh, run inside pg_virtualenv (PG* variables point at the cluster).
set -euo pipefail
work=$(mktemp -d /tmp/recsys-bench.XXXXXX)
chmod 777 "$work"
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
ms() { grep -o 'Time: [0-9.]*' | awk '{print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

q -c "CREATE EXTENSION recsys"
org="SET recsys.org_id = '00000000-0000-0000-0000-0000000be4c0';"

# 1. recsys_seed_synthetic at full size.
seed_s=$(q -c "$org" -c "SELECT recsys.recsys_seed_synthetic('bench', '{\"items\": $RECSYS_BENCH_ITEMS, \"users\": $RECSYS_BENCH_USERS, \"events\": $RECSYS_BENCH_EVENTS}') ->> 'seconds'")
q -c "ANALYZE"

# 2. recsys_record_events in batches of 10,000 onto the seeded namespace (new event ids, last 7 days).
q -c "CREATE TABLE bench_batches AS
      SELECT (g.n - 1) / 10000 AS b,
             jsonb_agg(jsonb_build_object('user_id', e.user_id, 'item_id', e.item_id, 'type', e.type,
                                          'ts', extract(epoch FROM e.ts), 'event_id', 'bench_' || e.event_id)) AS batch
        FROM (SELECT row_number() OVER () AS n, * FROM recsys._synthetic_events(99, $RECSYS_BENCH_ITEMS, $RECSYS_BENCH_USERS,
                     100000, 384, 20, 8, 7, 0.95, date_trunc('hour', now()))) g
        CROSS JOIN LATERAL (SELECT g.user_id, g.item_id, g.type, g.ts, g.event_id) e
       GROUP BY 1"
for b in $(seq 0 9); do
    echo "$org"
    echo "\\timing on"
    echo "SELECT recsys.recsys_record_events('bench', batch) FROM bench_batches WHERE b = $b;"
    echo "\\timing off"
done > "$work/batches.sql"
batch_ms=$(q -f "$work/batches.sql" | ms | median)

# 3. COPY into recsys.events, three files of 100,000 events (derived state maintained by triggers).
for part in 1 2 3; do
    q -c "\\copy (SELECT 'bench', user_id, item_id, type, ts - interval '14 days', 'copy${part}_' || event_id
                  FROM recsys._synthetic_events($((part + 100)), $RECSYS_BENCH_ITEMS, $RECSYS_BENCH_USERS, 100000,
                                                384, 20, 8, 7, 0.95, date_trunc('hour', now()))) TO '$work/copy$part.tsv'"
done
copy_ms=$(for part in 1 2 3; do
    q -c "$org" -c "\\timing on" -c "\\copy recsys.events (namespace, user_id, item_id, type, ts, event_id) FROM '$work/copy$part.tsv'"
done | ms | median)

counts=$(q -c "$org" -c "SELECT format('%s events, %s covis rows, %s user_items, %s user_tags',
    (SELECT count(*) FROM recsys.events), (SELECT count(*) FROM recsys.covis),
    (SELECT count(*) FROM recsys.user_items), (SELECT count(*) FROM recsys.user_tags))")
rm -rf "$work"

echo
echo "| measurement | result |"
echo "|---|---|"
echo "| recsys_seed_synthetic $RECSYS_BENCH_ITEMS items / $RECSYS_BENCH_USERS users / $RECSYS_BENCH_EVENTS events | ${seed_s} s |"
echo "| recsys_record_events, batch of 10,000 (median of 10) | ${batch_ms} ms = $(awk -v m="$batch_ms" 'BEGIN {printf "%.0f", 10000 / (m / 1000)}') events/s |"
echo "| COPY 100,000 events into recsys.events (median of 3) | ${copy_ms} ms = $(awk -v m="$copy_ms" 'BEGIN {printf "%.0f", 100000 / (m / 1000)}') events/s |"
echo "| state after the run | $counts |"
