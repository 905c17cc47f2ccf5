#!/usr/bin/env bash
# Ingestion benchmark (issue: foundation). Needs recsys installed (make install) and runs in a
# throw-away cluster. Prints a markdown table for docs/benchmarks.md.
#   bash bench/ingest.sh [items users events]     default: 100000 10000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-100000}
users=${2:-10000}
events=${3:-1000000}
export RECSYS_BENCH_ITEMS=$items RECSYS_BENCH_USERS=$users RECSYS_BENCH_EVENTS=$events
exec pg_virtualenv -v 15 -o shared_buffers=2GB -o max_wal_size=16GB -o checkpoint_timeout=30min \
    bash bench/ingest_inner.sh
