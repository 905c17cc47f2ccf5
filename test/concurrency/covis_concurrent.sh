#!/usr/bin/env bash
# Concurrent ingestion: two sessions record interleaved events of the same users at the same
# time (JSON batches in one, COPY-style INSERTs in the other). The derived state must equal a
# rebuild from the events: no co-visitation pair lost or counted twice. Emits TAP.
set -euo pipefail
ns="conc_$$"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = 'eeeeeeee-0000-0000-0000-00000000000e'" "$@"; }
echo "1..5"

q -c "SELECT recsys.recsys_upsert_items('$ns', (SELECT jsonb_agg(jsonb_build_object('item_id', 'i' || g, 'tags', jsonb_build_array('t' || g % 4))) FROM generate_series(1, 40) g))" >/dev/null

# Session A: 60 JSON batches; session B: 60 plain INSERT batches; the same 8 users, events one
# minute apart, so the batches of the two sessions pair with each other. Each session is one
# connection running its batches back to back (one transaction each), so they overlap.
work=$(mktemp -d)
for b in $(seq 1 60); do
    echo "SELECT recsys.recsys_record_events('$ns', (SELECT jsonb_agg(jsonb_build_object(
            'user_id', 'u' || (g % 8), 'item_id', 'i' || (1 + (g * 7 + $b) % 40), 'type', g % 4,
            'ts', extract(epoch FROM timestamptz '2026-05-01 00:00:00+00' + (((2 * g + $b) % 50) * interval '1 minute'))))
          FROM generate_series(1, 20) g));"
done > "$work/a.sql"
for b in $(seq 1 60); do
    echo "INSERT INTO recsys.events (namespace, user_id, item_id, type, ts)
          SELECT '$ns', 'u' || (g % 8), 'i' || (1 + (g * 11 + $b) % 40), 0,
                 timestamptz '2026-05-01 00:00:00+00' + (((2 * g + 1 + $b) % 50) * interval '1 minute')
            FROM generate_series(1, 20) g;"
done > "$work/b.sql"
q -f "$work/a.sql" >/dev/null 2>"$work/a.err" &
a=$!
q -f "$work/b.sql" >/dev/null 2>"$work/b.err" &
b=$!
status=0
wait $a || status=1
wait $b || status=1
[ $status = 0 ] && echo "ok 1 - both sessions ingested concurrently without error" || { echo "not ok 1 - a session failed"; sed "s/^/# /" "$work/a.err" "$work/b.err"; }

q -c "CREATE TABLE conc_before_$$ AS SELECT item_a, item_b, pairs FROM recsys.covis WHERE namespace = '$ns'"
q -c "CREATE TABLE conc_before_ui_$$ AS SELECT user_id, item_id, events FROM recsys.user_items WHERE namespace = '$ns'"
pairs=$(q -c "SELECT coalesce(sum(pairs), 0) FROM conc_before_$$")
[ "$pairs" -gt 100 ] && echo "ok 2 - concurrent batches produced $pairs co-visitation pairs" || echo "not ok 2 - only $pairs pairs"
q -c "SELECT recsys.recsys_refresh('$ns')" >/dev/null
diff_covis=$(q -c "SELECT count(*) FROM conc_before_$$ b FULL JOIN (SELECT * FROM recsys.covis WHERE namespace = '$ns') a USING (item_a, item_b)
                    WHERE a.pairs IS DISTINCT FROM b.pairs")
[ "$diff_covis" = 0 ] && echo "ok 3 - co-visitation after concurrent ingestion equals the rebuild" \
                      || echo "not ok 3 - $diff_covis co-visitation pairs differ from the rebuild"
diff_ui=$(q -c "SELECT count(*) FROM conc_before_ui_$$ b FULL JOIN (SELECT * FROM recsys.user_items WHERE namespace = '$ns') a USING (user_id, item_id)
                 WHERE a.events IS DISTINCT FROM b.events")
[ "$diff_ui" = 0 ] && echo "ok 4 - user-item counts after concurrent ingestion equal the rebuild" \
                   || echo "not ok 4 - $diff_ui user-item rows differ from the rebuild"
# A fixed interleaving: session 1 inserts an event and keeps its transaction open; session 2
# inserts an event of the same user a minute later and commits; then session 1 commits. Without
# the per-user locks neither trigger sees the other's event and the pair is lost.
ns2="${ns}_x"
q -c "SELECT recsys.recsys_upsert_items('$ns2', '[{\"item_id\": \"p\"}, {\"item_id\": \"q\"}]')" >/dev/null
mkfifo "$work/s1"
psql -X -q -v ON_ERROR_STOP=1 -At < "$work/s1" > "$work/s1.out" 2>&1 &
s1=$!
exec 3> "$work/s1"
echo "SET recsys.org_id = 'eeeeeeee-0000-0000-0000-00000000000e';" >&3
echo "BEGIN; INSERT INTO recsys.events (namespace, user_id, item_id, ts) VALUES ('$ns2', 'u', 'p', '2026-05-01 10:00:00+00');" >&3
sleep 1
q -c "INSERT INTO recsys.events (namespace, user_id, item_id, ts) VALUES ('$ns2', 'u', 'q', '2026-05-01 10:01:00+00')" >/dev/null &
s2=$!
sleep 1
echo "COMMIT;" >&3
exec 3>&-
wait $s1
wait $s2
interleaved=$(q -c "SELECT coalesce(sum(pairs), 0) FROM recsys.covis WHERE namespace = '$ns2'")
[ "$interleaved" = 1 ] && echo "ok 5 - a pair made by two overlapping transactions is counted once" \
                       || echo "not ok 5 - overlapping transactions counted $interleaved pairs instead of 1"
q -c "SELECT recsys.recsys_reset_namespace('$ns2', true)" >/dev/null

rm -rf "$work"
q -c "DROP TABLE conc_before_$$, conc_before_ui_$$" -c "SELECT recsys.recsys_reset_namespace('$ns', true)" >/dev/null
