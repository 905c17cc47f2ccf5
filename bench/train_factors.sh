#!/usr/bin/env bash
# Factor training time: recsys_train_factors with 64 factors and 15 iterations, three runs each,
# (1) on all ratings of MovieLens ml-latest-small (about 100k interactions; loaded from
# ../shared/data at run time when it is there) and (2) on the synthetic namespace of the
# foundation benchmark (100k items, 10k users, 1M events).
#   bash bench/train_factors.sh [items users events]      default: 100000 10000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
export RECSYS_BENCH_ITEMS=${1:-100000} RECSYS_BENCH_USERS=${2:-10000} RECSYS_BENCH_EVENTS=${3:-1000000}
export RECSYS_ML_DATA=$(realpath -q ../shared/data/ml-latest-small || true)
exec pg_virtualenv -v 15 -o shared_buffers=2GB -o max_wal_size=16GB bash -c '
    set -euo pipefail
    export PGOPTIONS="-c recsys.org_id=00000000-0000-0000-0000-0000000fac70 -c client_min_messages=warning"
    q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
    train() {  # namespace label
        for run in 1 2 3; do
            q -c "SELECT format('"'"'| %s | %s | %s | %s | %s | %s |'"'"', '"'"'$2'"'"', $run, r ->> '"'"'users'"'"',
                         r ->> '"'"'items'"'"', r ->> '"'"'interactions'"'"', r ->> '"'"'seconds'"'"')
                    FROM recsys.recsys_train_factors('"'"'$1'"'"', '"'"'{\"factors\": 64, \"iterations\": 15}'"'"') r"
        done
    }
    q -c "CREATE EXTENSION recsys"
    echo "| data | run | users | items | interactions | seconds |"
    echo "|---|---:|---:|---:|---:|---:|"
    if [ -n "$RECSYS_ML_DATA" ] && [ -f "$RECSYS_ML_DATA/ratings.csv" ]; then
        q -v ns=ml -v movies="$RECSYS_ML_DATA/movies.csv" -v train="$RECSYS_ML_DATA/ratings.csv" \
          -f quality/movielens_load.sql >/dev/null
        train ml "ml-latest-small, all ratings"
    fi
    q -c "SELECT recsys.recsys_seed_synthetic('"'"'bench'"'"', jsonb_build_object('"'"'items'"'"', $RECSYS_BENCH_ITEMS,
          '"'"'users'"'"', $RECSYS_BENCH_USERS, '"'"'events'"'"', $RECSYS_BENCH_EVENTS))" >/dev/null
    q -c "ANALYZE"
    train bench "synthetic $RECSYS_BENCH_ITEMS items / $RECSYS_BENCH_EVENTS events"
'
