#!/usr/bin/env bash
# recsys.catalog_huge_pages: after a backend loads a catalogue, its large private memory is backed
# by transparent huge pages (where the kernel gives them), and not with the setting off; the
# ranking is the same either way. Emits TAP.
set -euo pipefail
org="4b4b4b4b-0000-0000-0000-000000004b4b"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = '$org'" "$@"; }
echo "1..3"
# 20,000 items with 64-dimensional embeddings: the embeddings alone take a 5 MB mapping.
q -c "SELECT recsys.recsys_seed_synthetic('pages', '{\"items\": 20000, \"users\": 200, \"events\": 20000, \"dim\": 64,
                                                     \"end\": \"2026-11-01T00:00:00Z\"}')" >/dev/null
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo "none")
# One session with the setting: its ranking, then (while it is open) its backend's
# AnonHugePages in kB.
session() {
    psql -X -q -v ON_ERROR_STOP=1 -At <<SQL | tr '\n' ' '
SET recsys.org_id = '$org';
SET recsys.catalog_huge_pages = $1;
SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('pages', 'user_3', 10);
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND_PID :pid
\! awk '/^AnonHugePages:/ {print \$2; found = 1} END {if (!found) print "unreadable"}' /proc/\$BACKEND_PID/smaps_rollup 2>/dev/null || echo unreadable
SQL
    echo
}
read -r list_on huge_on < <(session on)
read -r list_off huge_off < <(session off)
[ -n "$list_on" ] && [ "$list_on" = "$list_off" ] && echo "ok 1 - the ranking is the same with and without huge pages" \
    || echo "not ok 1 - on: $list_on, off: $list_off"
if [ "$huge_on" = unreadable ] || [ "$huge_off" = unreadable ]; then
    echo "ok 2 # SKIP the backend's memory map is not readable by $(id -un)"
    echo "ok 3 # SKIP the backend's memory map is not readable by $(id -un)"
elif [[ "$thp" != *"[madvise]"* ]]; then
    echo "ok 2 # SKIP transparent huge pages are not in madvise mode here ($thp)"
    echo "ok 3 # SKIP transparent huge pages are not in madvise mode here ($thp)"
else
    [ "$huge_on" -gt 0 ] && echo "ok 2 - with the setting on, $huge_on kB of the backend are huge pages" \
        || echo "not ok 2 - no huge pages with the setting on"
    [ "$huge_off" = 0 ] && echo "ok 3 - with the setting off, none" || echo "not ok 3 - $huge_off kB of huge pages with the setting off"
fi
q -c "SELECT recsys.recsys_reset_namespace('pages', true)" >/dev/null
