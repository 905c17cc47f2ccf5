#!/usr/bin/env bash
# Serving latency: recsys_bandit_decide, recsys_rank and recsys_bandit_recommend, one client,
# pgbench with per-call latency logs (medians and p99 in ms). Needs recsys installed.
#   bash bench/serving.sh [items users events seconds]      default: 10000 1000 100000 15
set -euo pipefail
cd "$(dirname "$0")/.."
export RECSYS_BENCH_ITEMS=${1:-10000} RECSYS_BENCH_USERS=${2:-1000} RECSYS_BENCH_EVENTS=${3:-100000} RECSYS_BENCH_SECONDS=${4:-15}
exec pg_virtualenv -v 15 -o shared_buffers=2GB -o max_wal_size=16GB bash bench/serving_inner.sh
