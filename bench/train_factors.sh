#!/usr/bin/env bash
# Factor training time on the synthetic namespace of the foundation benchmark (100k items, 10k
# users, 1M events): recsys_train_factors with 64 factors and 15 iterations, three runs.
#   bash bench/train_factors.sh [items users events]      default: 100000 10000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
export RECSYS_BENCH_ITEMS=${1:-100000} RECSYS_BENCH_USERS=${2:-10000} RECSYS_BENCH_EVENTS=${3:-1000000}
exec pg_virtualenv -v 15 -o shared_buffers=2GB -o max_wal_size=16GB bash -c '
    set -euo pipefail
    q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = '"'"'00000000-0000-0000-0000-0000000fac70'"'"'" \
               -c "SET client_min_messages = warning" "$@"; }
    q -c "CREATE EXTENSION recsys"
    q -c "SELECT recsys.recsys_seed_synthetic('"'"'bench'"'"', jsonb_build_object('"'"'items'"'"', $RECSYS_BENCH_ITEMS,
          '"'"'users'"'"', $RECSYS_BENCH_USERS, '"'"'events'"'"', $RECSYS_BENCH_EVENTS))" >/dev/null
    q -c "ANALYZE"
    echo "| run | users | items | interactions | seconds |"
    echo "|---|---:|---:|---:|---:|"
    for run in 1 2 3; do
        q -c "SELECT format('"'"'| %s | %s | %s | %s | %s |'"'"', $run, r ->> '"'"'users'"'"', r ->> '"'"'items'"'"',
                     r ->> '"'"'interactions'"'"', r ->> '"'"'seconds'"'"')
                FROM recsys.recsys_train_factors('"'"'bench'"'"', '"'"'{\"factors\": 64, \"iterations\": 15}'"'"') r"
    done
'
