#!/usr/bin/env bash
# The offline quality protocol of ../shared/QUALITY.md on MovieLens ml-latest-small, end to end in
# a throw-away cluster: split with topk_eval.py, load the train part through the ingestion
# functions, then for each line of quality/configurations.txt (name|ranking knobs|training
# options) train factors (when the training options change), rank every test user and score
# the lists with topk_eval.py. The data is read from ../shared/data at run time, never copied here.
#   bash quality/movielens.sh [data_dir]       default: ../shared/data/ml-latest-small
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath "${1:-../shared/data/ml-latest-small}")
tool=$(realpath ../shared/tools/topk_eval.py)
work=$(mktemp -d /tmp/recsys-movielens.XXXXXX)
chmod 777 "$work"
/usr/bin/python3 "$tool" split --ratings "$data/ratings.csv" --format mlsmall --out "$work" >/dev/null
chmod 644 "$work"/*.csv
export RECSYS_ML_WORK=$work RECSYS_ML_DATA=$data RECSYS_ML_TOOL=$tool
exec pg_virtualenv -v 15 -o shared_buffers=1GB bash -c '
    set -euo pipefail
    export PGOPTIONS="-c recsys.org_id=00000000-0000-0000-0000-00000000a11e -c client_min_messages=warning"
    psql -X -q -c "CREATE EXTENSION recsys"
    start=$(date +%s.%N)
    psql -X -q -At -v ns=ml -v movies="$RECSYS_ML_DATA/movies.csv" -v train="$RECSYS_ML_WORK/train.csv" \
         -f quality/movielens_load.sql >/dev/null
    echo "load: $(awk -v s="$start" -v e="$(date +%s.%N)" '"'"'BEGIN {printf "%.1f", e - s}'"'"') s"
    trained=""
    while IFS="|" read -r name options training; do
        case "$name" in ""|"#"*) continue ;; esac
        if [ "$training" != "$trained" ]; then
            start=$(date +%s.%N)
            echo "SELECT recsys.recsys_train_factors('"'"'ml'"'"', :'"'"'opts'"'"') - '"'"'losses'"'"'" | psql -X -q -At -v opts="$training"
            echo "train_factors $training: $(awk -v s="$start" -v e="$(date +%s.%N)" '"'"'BEGIN {printf "%.1f", e - s}'"'"') s"
            trained=$training
        fi
        start=$(date +%s.%N)
        psql -X -q -At -v ns=ml -v test="$RECSYS_ML_WORK/test.csv" -v options="$options" -f quality/movielens_recs.sql \
            > "$RECSYS_ML_WORK/recs_$name.csv" </dev/null
        echo
        echo "== $name: $options (ranking 610 users: $(awk -v s="$start" -v e="$(date +%s.%N)" '"'"'BEGIN {printf "%.1f", e - s}'"'"') s)"
        /usr/bin/python3 "$RECSYS_ML_TOOL" score --split "$RECSYS_ML_WORK" --recs "$RECSYS_ML_WORK/recs_$name.csv"
    done < quality/configurations.txt
'
