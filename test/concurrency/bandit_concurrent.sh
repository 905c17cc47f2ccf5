#!/usr/bin/env bash
# Concurrent bandit traffic: three sessions decide and reward at the same time on the same
# surface and bucket. No update may be lost: trials equal decisions and reward sums equal the
# rewards given. Emits TAP.
set -euo pipefail
ns="band_$$"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = 'eeeeeeee-0000-0000-0000-00000000000b'" "$@"; }
echo "1..3"
q -c "SELECT recsys.recsys_upsert_policies('$ns', '[{\"policy_id\": \"a\", \"settings\": {}}, {\"policy_id\": \"b\", \"settings\": {\"alpha\": 2}}]')" >/dev/null
work=$(mktemp -d)
for s in 1 2 3; do
    {
        echo "SET recsys.org_id = 'eeeeeeee-0000-0000-0000-00000000000b';"
        for n in $(seq 1 300); do
            echo "SELECT recsys.recsys_bandit_reward('$ns', recsys.recsys_bandit_decide('$ns', 'home', '{\"device\": \"web\"}') ->> 'decision_id', $((n % 2)));"
        done
    } > "$work/s$s.sql"
done
pids=()
for s in 1 2 3; do
    psql -X -q -v ON_ERROR_STOP=1 -At -f "$work/s$s.sql" >/dev/null 2>"$work/s$s.err" &
    pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status = 0 ] && echo "ok 1 - three sessions decided and rewarded concurrently" \
                || { echo "not ok 1 - a session failed"; sed 's/^/# /' "$work"/s*.err; }
trials=$(q -c "SELECT sum(trials) FROM recsys.bandit_stats WHERE namespace = '$ns'")
rewards=$(q -c "SELECT sum(reward_sum) FROM recsys.bandit_stats WHERE namespace = '$ns'")
[ "$trials" = 900 ] && echo "ok 2 - 900 decisions, 900 trials" || echo "not ok 2 - 900 decisions but $trials trials"
[ "$rewards" = 450 ] && echo "ok 3 - 450 rewards of 1, reward sum 450" || echo "not ok 3 - 450 rewards of 1 but reward sum $rewards"
rm -rf "$work"
