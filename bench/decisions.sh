#!/usr/bin/env bash
# The decision log's costs: (1) what logging adds to recsys_rank (sample share 1 against 0,
# interleaved rounds, and the insert alone), (2) recsys_decisions answering filtered pages over
# a namespace with many logged decisions. pgbench, one client, medians and p99 in ms.
#   bash bench/decisions.sh [decisions seconds]      default: 10000000 10
set -euo pipefail
cd "$(dirname "$0")/.."
export RECSYS_BENCH_DECISIONS=${1:-10000000} RECSYS_BENCH_SECONDS=${2:-10}
exec pg_virtualenv -v 15 -o shared_buffers=4GB -o max_wal_size=32GB -o checkpoint_timeout=30min \
    bash bench/decisions_inner.sh
