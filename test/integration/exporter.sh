#!/usr/bin/env bash
# The real prometheus-postgres-exporter, run with metrics/postgres_exporter.yml against this
# cluster as a recsys_monitor login role, exposes the recsys series with the values the
# database holds. Emits TAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
org="e0e0e0e0-0000-0000-0000-00000000e0e0"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = '$org'" "$@"; }
echo "1..14"
q -c "SELECT recsys.recsys_seed_synthetic('exp', '{\"items\": 300, \"users\": 30, \"events\": 3000, \"end\": \"2026-11-01T00:00:00Z\"}')" >/dev/null
q -c "SELECT recsys.recsys_upsert_rule('exp', '{\"action\": \"boost\", \"boost\": 10, \"target\": {\"item_ids\": [\"item_3\", \"item_4\"]}}')" \
  -c "SELECT recsys.recsys_create_override('exp', '{\"item_id\": \"item_6\", \"action\": \"boost\", \"value\": 10}')" \
  -c "SELECT recsys.recsys_upsert_policies('exp', '[{\"policy_id\": \"p\", \"settings\": {}}]')" \
  -c "SELECT recsys.recsys_bandit_reward('exp', recsys.recsys_bandit_decide('exp', 'home') ->> 'decision_id', 1)" >/dev/null
for u in 1 2 3 4; do q -c "SELECT count(*) FROM recsys.recsys_rank('exp', 'user_$u', 10, 'home')" >/dev/null; done
q -c "SELECT count(*) FROM recsys.recsys_rank('exp', 'user_5', 10, 'home', '{\"exclude_item_ids\": [\"item_1\", \"item_2\"]}')" >/dev/null
q -c "BEGIN READ ONLY" -c "SELECT count(*) FROM recsys.recsys_rank('exp', 'user_6', 10, 'home')" -c "COMMIT" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS recsys_exporter_test" \
     -c "CREATE ROLE recsys_exporter_test LOGIN PASSWORD 'exporter-test' IN ROLE recsys_monitor"

port=$((20000 + $$ % 10000))
log=$(mktemp)
# A clean environment: the Go driver refuses some libpq variables that pg_virtualenv sets.
env -i PATH="$PATH" \
    DATA_SOURCE_NAME="host=${PGHOST:-localhost} port=${PGPORT:-5432} dbname=${PGDATABASE} user=recsys_exporter_test password=exporter-test sslmode=disable" \
    prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port" --extend.query-path=metrics/postgres_exporter.yml \
    --disable-default-metrics --disable-settings-metrics >"$log" 2>&1 &
exporter=$!
trap 'kill $exporter 2>/dev/null || true; rm -f "$log"' EXIT
scrape=""
for _ in $(seq 1 50); do
    scrape=$(curl -sf "http://127.0.0.1:$port/metrics" || true)
    grep -q '^recsys_decisions_value' <<<"$scrape" && break
    sleep 0.2
done

# The value of the series `name` whose labels include every given label="value".
metric() {
    local name=$1; shift
    local lines
    lines=$(grep "^${name}{" <<<"$scrape" || true)
    for label in "$@"; do lines=$(grep -F "$label" <<<"$lines" || true); done
    awk '{print $NF}' <<<"$lines" | head -1
}
check() {  # check n description expected actual
    if [ "$3" = "$4" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2: expected '$3', scraped '$4'"; fi
}
sql_value() { q -c "SELECT value FROM recsys.metrics WHERE name = '$1' AND labels @> '$2'"; }
sel="org=\"$org\""
check 1 "the exporter serves recsys series" yes "$(grep -q '^recsys_' <<<"$scrape" && echo yes || { sed 's/^/# /' "$log" >&2; echo no; })"
check 2 "decisions per namespace and surface" 5 "$(metric recsys_decisions_value "$sel" 'namespace="exp"' 'surface="home"')"
check 3 "items served" "$(sql_value items_served "{\"org\": \"$org\", \"surface\": \"home\"}" | awk '{printf "%g", $1}')" \
      "$(metric recsys_items_served_value "$sel" 'surface="home"')"
check 4 "filter drops by stage: the two excluded items" 2 "$(metric recsys_filter_drops_value "$sel" 'stage="excluded"')"
check 5 "no filter leaks" 0 "$(metric recsys_filter_leaks_value "$sel")"
check 6 "catalogue size: available items" "$(q -c "SELECT count(*) FROM recsys.items WHERE namespace = 'exp' AND available")" \
      "$(metric recsys_catalogue_items_value "$sel" 'available="true"')"
check 7 "skipped logging in read-only transactions" "$(q -c "SELECT read_only FROM recsys._skipped_decisions()")" \
      "$(metric recsys_decisions_skipped_value 'reason="read_only"')"
check 8 "latency histogram: every logged decision is in the +Inf bucket" 5 \
      "$(metric recsys_decision_duration_ms_bucket_value "$sel" 'le="+Inf"')"
coverage=$(metric recsys_served_coverage_value "$sel")
check 9 "coverage is exported and matches the view" \
      "$(sql_value served_coverage "{\"org\": \"$org\"}" | awk '{printf "%.6f", $1}')" "$(awk '{printf "%.6f", $1}' <<<"${coverage:-nan}")"
# The value of the view for a name and labels, and whether it is positive.
positive() { awk '{print ($1 > 0) ? "positive" : "not positive"}'; }
view_rule=$(sql_value rule_exposure "{\"org\": \"$org\", \"action\": \"boost\"}")
check 10 "rule exposure by action, as in the view and positive" "$(awk '{printf "%g", $1}' <<<"$view_rule") positive" \
      "$(metric recsys_rule_exposure_value "$sel" 'action="boost"') $(positive <<<"${view_rule:-0}")"
view_override=$(sql_value override_exposure "{\"org\": \"$org\", \"action\": \"boost\"}")
check 11 "manual-override exposure, as in the view and positive" "$(awk '{printf "%g", $1}' <<<"$view_override") positive" \
      "$(metric recsys_override_exposure_value "$sel" 'action="boost"') $(positive <<<"${view_override:-0}")"
view_actions=$(sql_value rule_actions "{\"org\": \"$org\", \"action\": \"boost\"}")
check 12 "rule actions on candidates, as in the view and positive" "$(awk '{printf "%g", $1}' <<<"$view_actions") positive" \
      "$(metric recsys_rule_actions_value "$sel" 'action="boost"') $(positive <<<"${view_actions:-0}")"
check 13 "bandit decisions and rewards" "1 1 1" \
      "$(metric recsys_bandit_decisions_value "$sel") $(metric recsys_bandit_rewards_value "$sel") $(metric recsys_bandit_reward_sum_value "$sel")"
check 14 "long-tail share, as in the view" \
      "$(sql_value served_long_tail_share "{\"org\": \"$org\"}" | awk '{printf "%.6f", $1}')" \
      "$(metric recsys_served_long_tail_share_value "$sel" | awk '{printf "%.6f", $1}')"
psql -X -q -c "DROP OWNED BY recsys_exporter_test" -c "DROP ROLE recsys_exporter_test" >/dev/null
