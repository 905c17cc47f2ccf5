#!/usr/bin/env bash
# Factor training shows its progress to other sessions and stops on statement_timeout and on
# pg_cancel_backend, keeping the previous model. Emits TAP.
set -euo pipefail
org="ca11ca11-0000-0000-0000-00000000ca11"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET client_min_messages = warning" -c "SET recsys.org_id = '$org'" "$@"; }
echo "1..5"
q -c "SELECT recsys.recsys_seed_synthetic('cancel', '{\"items\": 3000, \"users\": 400, \"events\": 40000, \"end\": \"2026-11-01T00:00:00Z\"}')" \
  -c "SELECT recsys.recsys_train_factors('cancel', '{\"factors\": 4, \"iterations\": 2}')" >/dev/null
long='{"factors": 200, "iterations": 100, "cg_steps": 10}'

out=$(psql -X -q -At -c "SET recsys.org_id = '$org'" -c "SET statement_timeout = '500ms'" -c "\\set VERBOSITY verbose" \
           -c "SELECT recsys.recsys_train_factors('cancel', '$long')" 2>&1 || true)
grep -q "57014" <<<"$out" && echo "ok 1 - statement_timeout stops a training (57014)" \
    || { echo "not ok 1 - no 57014"; sed 's/^/# /' <<<"$out" | tail -5; }

log=$(mktemp)
psql -X -q -At -c "SET recsys.org_id = '$org'" -c "\\set VERBOSITY verbose" \
     -c "SELECT recsys.recsys_train_factors('cancel', '$long')" >"$log" 2>&1 &
trainer=$!
progress=""
for _ in $(seq 1 100); do
    progress=$(q -c "SELECT iteration || '/' || iterations FROM recsys.training_progress WHERE namespace = 'cancel' AND iteration >= 1")
    [ -n "$progress" ] && break
    sleep 0.1
done
[ -n "$progress" ] && echo "ok 2 - another session sees the running training's progress ($progress)" \
    || echo "not ok 2 - no progress row"
# The progress slot is updated just before the NOTICE is sent, and psql writes it to the log after
# it arrives: wait for it rather than race it.
for _ in $(seq 1 100); do
    grep -q "factor training iteration 1 of 100" "$log" && break
    sleep 0.1
done
grep -q "factor training iteration 1 of 100" "$log" && echo "ok 3 - a NOTICE reports each iteration" \
    || echo "not ok 3 - no iteration NOTICE"
psql -X -q -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%recsys_train_factors(''cancel''%' AND pid <> pg_backend_pid()" >/dev/null
wait $trainer || true
grep -q "57014" "$log" && echo "ok 4 - pg_cancel_backend stops it (57014)" || { echo "not ok 4 - not cancelled"; sed 's/^/# /' "$log" | tail -3; }
rm -f "$log"
[ "$(q -c "SELECT options ->> 'factors' FROM recsys.factor_models WHERE namespace = 'cancel'")" = 4 ] \
    && [ -z "$(q -c "SELECT pid FROM recsys.training_progress")" ] \
    && echo "ok 5 - the previous model stays and the progress slot is freed" || echo "not ok 5 - model replaced or slot left"
