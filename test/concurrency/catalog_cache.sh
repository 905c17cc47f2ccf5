#!/usr/bin/env bash
# The serving catalogue cache never serves stale data: a long-lived serving session (A) keeps
# its cached catalogue while another session (B) changes items, events and indexes; A's very
# next call must reflect every committed change, and none that is uncommitted or rolled back.
# Emits TAP.
set -euo pipefail
ns="cache_$$"
org="SET recsys.org_id = 'eeeeeeee-0000-0000-0000-00000000000c';"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "$org" "$@"; }

# Two persistent sessions; ask_<s> sends SQL and returns its output once psql has run it.
# (bash warns that a second coproc exists; both work.)
{ coproc A { psql -X -q -At -v ON_ERROR_STOP=0 2>&1; }; } 2>/dev/null
{ coproc B { psql -X -q -At -v ON_ERROR_STOP=0 2>&1; }; } 2>/dev/null
a_pid=$A_PID b_pid=$B_PID
ask() {
    local in=$1 out=$2 sql=$3 line result=""
    printf '%s\n\\echo __done__\n' "$sql" >&"$in"
    while IFS= read -r line <&"$out"; do
        [ "$line" = "__done__" ] && break
        result+="$line"$'\n'
    done
    printf '%s' "$result"
}
ask_a() { ask "${A[1]}" "${A[0]}" "$1"; }
ask_b() { ask "${B[1]}" "${B[0]}" "$1"; }
n=0
check() {  # check <description> <command...>: one TAP line
    local what=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; fi
}
contains() { grep -qx -- "$2" <<< "$1"; }
lacks() { ! grep -qx -- "$2" <<< "$1"; }

echo "1..16"
q -c "SELECT recsys.recsys_seed_synthetic('$ns', '{\"items\": 300, \"users\": 40, \"events\": 3000, \"dim\": 8}')" >/dev/null
ask_a "$org" >/dev/null
ask_b "$org" >/dev/null
rank="SELECT item_id FROM recsys.recsys_rank('$ns', 'user_1', 10);"
similar="SELECT item_id FROM recsys.recsys_similar_items('$ns', 'item_1', 10, '{\"alpha\": 0, \"beta\": 0}');"

# Made unavailable by another session: gone from A's very next call.
before=$(ask_a "$rank")
top=$(head -1 <<< "$before")
ask_b "UPDATE recsys.items SET available = false WHERE namespace = '$ns' AND item_id = '$top';" >/dev/null
after=$(ask_a "$rank")
check "an item made unavailable in another session leaves the next ranking" lacks "$after" "$top"

# An uncommitted change is not served; once committed, it is.
second=$(head -1 <<< "$after")
ask_b "BEGIN; UPDATE recsys.items SET available = false WHERE namespace = '$ns' AND item_id = '$second';" >/dev/null
during=$(ask_a "$rank")
check "another session's uncommitted change is not served" contains "$during" "$second"
ask_b "COMMIT;" >/dev/null
committed=$(ask_a "$rank")
check "the change is served as soon as it commits (the watermark kept the open transaction)" lacks "$committed" "$second"

# Deleted items (the catalogue epoch) disappear.
third=$(head -1 <<< "$committed")
ask_b "DELETE FROM recsys.items WHERE namespace = '$ns' AND item_id = '$third';" >/dev/null
check "a deleted item leaves the next ranking" lacks "$(ask_a "$rank")" "$third"

# A's own rolled-back change: served inside its transaction, gone after the rollback.
fourth=$(ask_a "$rank" | head -1)
inside=$(ask_a "BEGIN; UPDATE recsys.items SET available = false WHERE namespace = '$ns' AND item_id = '$fourth'; $rank")
check "the session's own uncommitted change is served to itself" lacks "$inside" "$fourth"
again=$(ask_a "UPDATE recsys.items SET available = true WHERE namespace = '$ns' AND item_id = '$fourth'; $rank")
check "a second write of the same transaction is served too" contains "$again" "$fourth"
ask_a "UPDATE recsys.items SET available = false WHERE namespace = '$ns' AND item_id = '$fourth';" >/dev/null
ask_a "ROLLBACK;" >/dev/null
check "after its rollback the item is back" contains "$(ask_a "$rank")" "$fourth"
inside=$(ask_a "BEGIN; SAVEPOINT s; UPDATE recsys.items SET available = false WHERE namespace = '$ns' AND item_id = '$fourth'; $rank")
ask_a "ROLLBACK TO SAVEPOINT s;" >/dev/null
check "after a savepoint rollback the item is back" contains "$(ask_a "$rank"; ask_a "COMMIT;")" "$fourth"

# New item with the anchor's embedding: the nearest similar item at once, exact or through an index.
emb=$(q -c "SELECT embedding FROM recsys.items WHERE namespace = '$ns' AND item_id = 'item_1'")
ask_a "$similar" >/dev/null
ask_b "INSERT INTO recsys.items (namespace, item_id, embedding) VALUES ('$ns', 'twin', '$emb');" >/dev/null
check "a new item with the anchor's embedding is the first similar item" test "$(ask_a "$similar" | head -1)" = twin
ask_b "SELECT recsys.recsys_build_embedding_index('$ns', '{\"lists\": 8, \"probes\": 2}');" >/dev/null
ask_b "UPDATE recsys.items SET embedding = (SELECT embedding FROM recsys.items WHERE namespace = '$ns' AND item_id = 'item_2') WHERE namespace = '$ns' AND item_id = 'twin';" >/dev/null
check "through the new index, an embedding moved away is no longer the first similar item" \
    test "$(ask_a "$similar" | head -1)" != twin

# Popularity: a burst of purchases makes an obscure item the most popular one.
obscure=$(q -c "SELECT item_id FROM recsys.items i WHERE namespace = '$ns' AND available
                 AND NOT EXISTS (SELECT 1 FROM recsys.item_popularity p WHERE p.namespace = i.namespace AND p.item_id = i.item_id)
               ORDER BY item_id LIMIT 1")
ask_b "SELECT recsys.recsys_record_events('$ns', (SELECT jsonb_agg(jsonb_build_object('user_id', 'burst_' || g, 'item_id', '$obscure', 'type', 'purchase')) FROM generate_series(1, 200) g));" >/dev/null
check "a burst of events in another session puts the item first for a new user" \
    test "$(ask_a "SELECT item_id FROM recsys.recsys_rank('$ns', 'nobody', 1, 'default', '{\"alpha\": 1, \"beta\": 0, \"gamma\": 0}');")" = "$obscure"

# Co-visitation: pairs recorded, rolled back or deleted elsewhere change A's very next call.
covisited="SELECT item_id FROM recsys.recsys_similar_items('$ns', 'item_1', 1, '{\"alpha\": 0, \"beta\": 1, \"gamma\": 0}');"
pair_events() {  # pair_events <item> <users>: JSON events of <users> new users viewing item_1 and <item>
    echo "(SELECT jsonb_agg(jsonb_build_object('user_id', 'pair_$1_' || g, 'item_id', i, 'type', 'view'))
             FROM generate_series(1, $2) g, unnest(ARRAY['item_1', '$1']) i)"
}
strongest=$(q -c "SELECT coalesce(max(pairs), 0) + 1 FROM recsys.item_neighbours WHERE namespace = '$ns' AND item_id = 'item_1'")
read -r p1 p2 p3 <<< "$(q -c "SELECT string_agg(item_id, ' ') FROM (SELECT item_id FROM recsys.items i WHERE namespace = '$ns'
        AND available AND item_id <> 'item_1' AND NOT EXISTS (SELECT 1 FROM recsys.item_neighbours x
        WHERE x.namespace = i.namespace AND x.item_id = 'item_1' AND x.neighbour_id = i.item_id) ORDER BY item_id DESC LIMIT 3) s")"
ask_a "$covisited" >/dev/null
ask_b "BEGIN; SELECT recsys.recsys_record_events('$ns', $(pair_events "$p1" "$strongest"));" >/dev/null
check "another session's uncommitted co-visitation is not served" test "$(ask_a "$covisited")" != "$p1"
ask_b "COMMIT;" >/dev/null
check "committed co-visitation pairs are served at the next call" test "$(ask_a "$covisited")" = "$p1"
inside=$(ask_a "BEGIN; SELECT recsys.recsys_record_events('$ns', $(pair_events "$p2" "$((strongest * 2))")) IS NULL; $covisited")
check "the session's own uncommitted pairs are served to itself" test "$(tail -1 <<< "$inside")" = "$p2"
ask_a "ROLLBACK;" >/dev/null
check "after its rollback the pairs are gone" test "$(ask_a "$covisited")" = "$p1"
ask_b "DELETE FROM recsys.events WHERE namespace = '$ns' AND item_id = '$p1';" >/dev/null
check "pairs of deleted events are gone at the next call" test "$(ask_a "$covisited")" != "$p1"

# End both sessions by closing their input: writing "\q" raced with psql's exit, and a write to
# a closed pipe killed this script with SIGPIPE after all its tests had passed.
eval "exec ${A[1]}>&- ${B[1]}>&-"
wait "$a_pid" "$b_pid" || true
