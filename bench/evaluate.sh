#!/usr/bin/env bash
# recsys_evaluate on all ratings of MovieLens ml-latest-small (read from ../shared/data at run
# time): a model of 64 factors is trained first, so the evaluation trains one on the train part
# of its split too. Prints the wall time of each step and the evaluation's own figures.
#   bash bench/evaluate.sh [data_dir]       default: ../shared/data/ml-latest-small
set -euo pipefail
cd "$(dirname "$0")/.."
export RECSYS_ML_DATA=$(realpath "${1:-../shared/data/ml-latest-small}")
exec pg_virtualenv -v 15 -o shared_buffers=1GB bash -c '
    set -euo pipefail
    export PGOPTIONS="-c recsys.org_id=00000000-0000-0000-0000-0000000e7a1e -c client_min_messages=warning"
    q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
    q -c "CREATE EXTENSION recsys"
    q -v ns=ml -v movies="$RECSYS_ML_DATA/movies.csv" -v train="$RECSYS_ML_DATA/ratings.csv" -f quality/movielens_load.sql >/dev/null
    q -c "SELECT recsys.recsys_train_factors('"'"'ml'"'"', '"'"'{\"factors\": 64, \"regularization\": 50}'"'"') ->> '"'"'seconds'"'"'" \
      | sed "s/^/train_factors (64 factors, all ratings): /; s/$/ s/"
    q -c "SELECT jsonb_build_object('"'"'seconds'"'"', r -> '"'"'seconds'"'"', '"'"'users'"'"', r -> '"'"'users'"'"',
                                    '"'"'model_ndcg'"'"', r -> '"'"'model'"'"' -> '"'"'ndcg'"'"',
                                    '"'"'baseline_ndcg'"'"', r -> '"'"'baseline'"'"' -> '"'"'ndcg'"'"',
                                    '"'"'lift_ndcg'"'"', r -> '"'"'lift'"'"' -> '"'"'ndcg'"'"')
            FROM recsys.recsys_evaluate('"'"'ml'"'"', '"'"'{\"config\": {\"alpha\": 0.05, \"beta\": 0.5, \"gamma\": 1,
                 \"mmr_lambda\": 1, \"profile_boost\": 0.5, \"covis_penalty\": 0.6}}'"'"') r" | sed "s/^/recsys_evaluate: /"
'
